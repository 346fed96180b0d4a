import http from "node:http";
import type { AddressInfo } from "node:net";
import { describeError } from "../lib/errors.js";
import type { Logger } from "../lib/logger.js";
import { createRequestGate, type GatePolicy } from "./gate.js";
import { DASHBOARD_PATHS, handleDashboard, isPublicPath, originOf, StreamSet, type DashboardApi, type Origin } from "./dashboard/routes.js";

export { tokenMatches } from "./gate.js";

/** What the HTTP API needs from the daemon: narrow views, no component objects. */
export interface ApiHandlers {
  health(): { ok: true } | { ok: false; reason: string };
  status(): unknown;
  watchdog(): unknown;
  metrics(): Promise<{ contentType: string; body: string }>;
  /** Receives a hook delivery (already parsed JSON); a refusal is answered 400 with the reason. */
  hook(body: unknown): Promise<{ ok: true } | { ok: false; reason: string }>;
  /** Requests a swap (manual, or to the next account when `to` is undefined). */
  swap: (to: string | undefined, origin: Origin) => Promise<{ status: number; body: unknown }>;
  /** Delegation status; undefined (or a function returning it) when delegation is off: 404. */
  delegated?: () => unknown;
  /** The web dashboard (GET /, /api/events and its actions); undefined: those paths are 404. */
  dashboard?: DashboardApi;
}

export const MAX_BODY_BYTES = 1024 * 1024;

export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** The parsed body; an empty body is `{}` unless `emptyIs` says otherwise. */
export async function readJson(req: http.IncomingMessage, emptyIs: unknown = {}): Promise<unknown> {
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
  if (text.trim() === "") return emptyIs;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, "body is not valid JSON");
  }
}

export function send(res: http.ServerResponse, status: number, body: unknown, contentType = "application/json"): void {
  const text = contentType === "application/json" ? JSON.stringify(body) + "\n" : String(body);
  res.writeHead(status, { "content-type": contentType === "application/json" ? "application/json; charset=utf-8" : contentType, "cache-control": "no-store" });
  res.end(text);
}

/** A request listener that can also end the long-lived responses it holds (event streams). */
export type ApiHandler = http.RequestListener & { closeStreams(): void };

/** The request handler of the daemon's API (contract §7). */
export function createApiHandler(api: ApiHandlers, options: GatePolicy & { log: Logger }): ApiHandler {
  const streams = new StreamSet();
  // The dashboard's shell and script hold no data: they need no token (the page must load to ask for
  // it), but pass the Host check like everything else.
  const gate = createRequestGate({
    ...options,
    ...(api.dashboard ? { open: (req: http.IncomingMessage) => isPublicPath(req.method ?? "GET", new URL(req.url ?? "/", "http://localhost").pathname) } : {}),
  });
  const route = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    // Every route, whatever it is, passes the gate first (Host, then token).
    const refused = gate(req);
    if (refused) {
      for (const [k, v] of Object.entries(refused.headers ?? {})) res.setHeader(k, v);
      throw new HttpError(refused.status, refused.message);
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
        // Only an explicit object may move the accounts: an empty or odd body changes nothing.
        const body = await readJson(req, null);
        if (typeof body !== "object" || body === null || Array.isArray(body)) throw new HttpError(400, "expected a JSON object such as {} or {\"to\": \"ACCOUNT\"}");
        const to = (body as { to?: unknown }).to;
        if (to !== undefined && (typeof to !== "string" || to.trim() === "")) throw new HttpError(400, "`to` must be a non-empty account name");
        const r = await api.swap(to, originOf(req));
        return send(res, r.status, r.body);
      }
      default: {
        if (api.dashboard && (await handleDashboard(api.dashboard, key, url, req, res, { streams, log: options.log }))) return;
        const known = ["/health", "/status", "/watchdog/status", "/metrics", "/api/delegated/status", "/api/hook", "/api/swap", ...(api.dashboard ? DASHBOARD_PATHS : [])];
        if (known.includes(url.pathname)) throw new HttpError(405, `method ${req.method ?? ""} not allowed on ${url.pathname}`);
        throw new HttpError(404, `no such endpoint: ${url.pathname}`);
      }
    }
  };
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    route(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      if (status === 500) options.log.error({ err: describeError(err), path: req.url }, "http handler failed");
      if (!res.headersSent) send(res, status, { ok: false, error: err instanceof HttpError ? err.message : "internal error" });
      else res.destroy();
    });
  };
  return Object.assign(handler, { closeStreams: () => streams.closeAll() });
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

export interface ServerTimeouts {
  /** A client must finish sending its headers within this (slowloris). */
  headersTimeoutMs: number;
  /** ...and the whole request within this. */
  requestTimeoutMs: number;
}

export const DEFAULT_TIMEOUTS: ServerTimeouts = { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000 };

/** Starts the API on `listen`; port 0 picks a free port (tests). */
export async function startHttpServer(listen: string, handler: http.RequestListener & { closeStreams?: () => void }, timeouts: ServerTimeouts = DEFAULT_TIMEOUTS): Promise<RunningServer> {
  const { host, port } = parseListen(listen);
  const server = http.createServer({
    headersTimeout: timeouts.headersTimeoutMs,
    requestTimeout: timeouts.requestTimeoutMs,
    // Node checks both timeouts only every connectionsCheckingInterval (30 s by default): a 10 s limit
    // then held for up to ~40 s. Check often enough that the limit is the configured one.
    connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(timeouts.headersTimeoutMs / 10))),
  }, handler);
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
        handler.closeStreams?.();
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
