import { createHash, timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { describeError } from "../lib/errors.js";
import type { Logger } from "../lib/logger.js";

/** What the HTTP API needs from the daemon: narrow views, no component objects. */
export interface ApiHandlers {
  health(): { ok: true } | { ok: false; reason: string };
  status(): unknown;
  watchdog(): unknown;
  metrics(): Promise<{ contentType: string; body: string }>;
  /** Receives a hook delivery (already parsed JSON); a refusal is answered 400 with the reason. */
  hook(body: unknown): Promise<{ ok: true } | { ok: false; reason: string }>;
  /** Requests a swap; undefined when the capability is not built. */
  swap?: (to: string | undefined) => Promise<{ status: number; body: unknown }>;
  /** Delegation status; undefined (or a function returning it) when delegation is off: 404. */
  delegated?: () => unknown;
}

export const MAX_BODY_BYTES = 1024 * 1024;

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function sha256(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

/** Constant-time comparison of a presented bearer token with the configured one. */
export function tokenMatches(header: string | undefined, token: string): boolean {
  const presented = /^Bearer (.+)$/.exec(header ?? "")?.[1] ?? "";
  return timingSafeEqual(sha256(presented), sha256(token));
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const type = req.headers["content-type"] ?? "";
  if (!/^application\/json\b/i.test(type)) throw new HttpError(415, "expected Content-Type: application/json");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, "body is not valid JSON");
  }
}

function send(res: http.ServerResponse, status: number, body: unknown, contentType = "application/json"): void {
  const text = contentType === "application/json" ? JSON.stringify(body) + "\n" : String(body);
  res.writeHead(status, { "content-type": contentType === "application/json" ? "application/json; charset=utf-8" : contentType, "cache-control": "no-store" });
  res.end(text);
}

/** The request handler of the daemon's API (SPEC §7). */
export function createApiHandler(api: ApiHandlers, options: { log: Logger; token?: string }): http.RequestListener {
  const route = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    if (options.token !== undefined && !tokenMatches(req.headers.authorization, options.token)) {
      res.setHeader("www-authenticate", "Bearer");
      throw new HttpError(401, "missing or wrong bearer token");
    }
    const url = new URL(req.url ?? "/", "http://localhost");
    const key = `${req.method ?? "GET"} ${url.pathname}`;
    switch (key) {
      case "GET /health": {
        const h = api.health();
        return send(res, h.ok ? 200 : 503, h);
      }
      case "GET /status":
        return send(res, 200, api.status());
      case "GET /watchdog/status":
        return send(res, 200, api.watchdog());
      case "GET /metrics": {
        const m = await api.metrics();
        return send(res, 200, m.body, m.contentType);
      }
      case "GET /api/delegated/status": {
        const status = api.delegated?.();
        if (status === undefined) throw new HttpError(404, "delegation is off");
        return send(res, 200, status);
      }
      case "POST /api/hook":
      {
        const r = await api.hook(await readJson(req));
        if (!r.ok) throw new HttpError(400, r.reason);
        return send(res, 202, { ok: true });
      }
      case "POST /api/swap": {
        const body = (await readJson(req)) as { to?: unknown };
        if (body.to !== undefined && typeof body.to !== "string") throw new HttpError(400, "`to` must be an account name");
        if (!api.swap) throw new HttpError(501, "manual swap is not built yet");
        const r = await api.swap(body.to);
        return send(res, r.status, r.body);
      }
      default: {
        const known = ["/health", "/status", "/watchdog/status", "/metrics", "/api/delegated/status", "/api/hook", "/api/swap"];
        if (known.includes(url.pathname)) throw new HttpError(405, `method ${req.method ?? ""} not allowed on ${url.pathname}`);
        throw new HttpError(404, `no such endpoint: ${url.pathname}`);
      }
    }
  };
  return (req, res) => {
    route(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      if (status === 500) options.log.error({ err: describeError(err), path: req.url }, "http handler failed");
      if (!res.headersSent) send(res, status, { ok: false, error: err instanceof HttpError ? err.message : "internal error" });
      else res.destroy();
    });
  };
}

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

/** Parses `host:port` / `[v6]:port`. */
export function parseListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(":");
  return { host: listen.slice(0, i).replace(/^\[(.*)\]$/, "$1"), port: Number(listen.slice(i + 1)) };
}

/** Starts the API on `listen`; port 0 picks a free port (tests). */
export async function startHttpServer(listen: string, handler: http.RequestListener): Promise<RunningServer> {
  const { host, port } = parseListen(listen);
  const server = http.createServer(handler);
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${addr.port}`,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
