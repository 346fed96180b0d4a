import type http from "node:http";
import type { Logger } from "../../lib/logger.js";
import { describeError } from "../../lib/errors.js";
import { HttpError, readJson, send } from "../server.js";
import { ASSETS, readAsset, shellPage } from "./page.js";
import { renderSections, type DashboardSnapshot, type EventRow } from "./view.js";
import { renderScreen, renderTask, type TaskDetail } from "./detail.js";
import type { Origin } from "../../state/events.js";

export type { Origin } from "../../state/events.js";

export interface ActionResult {
  status: number;
  body: unknown;
}

/** What the dashboard needs from the daemon. Actions record themselves in events.jsonl with `origin`. */
export interface DashboardApi {
  snapshot(): Promise<DashboardSnapshot>;
  /** Told of every event appended to events.jsonl and of other changes worth a redraw; returns the unsubscribe. */
  subscribe(listener: (change: { event?: EventRow }) => void): () => void;
  submit(project: string, text: string, origin: Origin): Promise<ActionResult>;
  retry(project: string, id: string, origin: Origin): Promise<ActionResult>;
  cancel(project: string, id: string, origin: Origin): Promise<ActionResult>;
  setPaused(paused: boolean, origin: Origin): Promise<ActionResult>;
  task(project: string, id: string): Promise<TaskDetail | undefined>;
  /** The last capture of a session the daemon holds (secrets masked), or undefined for any other name. */
  screen(session: string): Promise<string | undefined>;
}

export const DASHBOARD_PATHS = ["/", "/api/events", "/api/dashboard", "/api/tasks", "/api/tasks/retry", "/api/tasks/cancel", "/api/dispatch", "/api/task", "/api/sessions/screen", ...Object.keys(ASSETS)];

/** The shell and its assets carry no data: they are served before the page knows the token. */
export function isPublicPath(method: string, pathname: string): boolean {
  return method === "GET" && (pathname === "/" || Object.hasOwn(ASSETS, pathname));
}

const HEARTBEAT_MS = 15_000;
const MAX_NAME = 200;

const PAGE_HEADERS = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

/** An action's origin: the page marks its requests (`x-cf-origin: dashboard`); the client's address. */
export function originOf(req: http.IncomingMessage): Origin {
  return { via: req.headers["x-cf-origin"] === "dashboard" ? "dashboard" : "api", remote: req.socket.remoteAddress ?? "unknown" };
}

function str(body: Record<string, unknown>, key: string, max = MAX_NAME): string {
  const v = body[key];
  if (typeof v !== "string" || v === "" || v.length > max) throw new HttpError(400, `\`${key}\` must be a non-empty string of at most ${max} characters`);
  return v;
}

async function objectBody(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const body = await readJson(req);
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new HttpError(400, "expected a JSON object");
  return body as Record<string, unknown>;
}

const frames = new WeakMap<DashboardSnapshot, string>();

/** A snapshot's `view` data, rendered once however many streams send it (every open page shares a snapshot). */
export function viewFrame(snapshot: DashboardSnapshot): string {
  let frame = frames.get(snapshot);
  if (frame === undefined) frames.set(snapshot, (frame = JSON.stringify(renderSections(snapshot))));
  return frame;
}

/** Event streams open at once: each holds a subscription, a socket and what is buffered for it. */
export const MAX_STREAMS = 16;
/** A stream whose client has left this much unread is ended: Node would buffer every frame for it. */
const MAX_STREAM_BUFFER = 1024 * 1024;

/** Open event streams (at most `max`), ended when the server closes (they would hold `close()` forever). */
export class StreamSet {
  private readonly open = new Set<http.ServerResponse>();
  constructor(readonly max = MAX_STREAMS) {}
  /** False when `max` streams are open already. */
  add(res: http.ServerResponse): boolean {
    if (this.open.size >= this.max) return false;
    this.open.add(res);
    res.once("close", () => this.open.delete(res));
    return true;
  }
  closeAll(): void {
    for (const res of this.open) res.end();
    this.open.clear();
  }
  get size(): number {
    return this.open.size;
  }
}

/**
 * `GET /api/events`: server-sent events. `view` carries every section rendered (sent at once, then
 * whenever it changes); `event` each line appended to events.jsonl. Redraws are coalesced: one
 * snapshot at a time, and one more if anything changed meanwhile.
 */
function streamEvents(api: DashboardApi, req: http.IncomingMessage, res: http.ServerResponse, streams: StreamSet, log: Logger): Promise<void> {
  if (!streams.add(res)) {
    throw new HttpError(503, `too many open event streams (${streams.max}): close a dashboard page, or poll GET /api/dashboard`);
  }
  res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", "x-accel-buffering": "no" });
  res.flushHeaders();
  let closed = false;
  let last = "";
  let running: Promise<void> | undefined;
  let again = false;
  // Ended by closeAll() or by the client: a write then would throw (write after end).
  const ended = (): boolean => closed || res.writableEnded || res.destroyed;
  const put = (chunk: string): void => {
    if (ended()) return;
    res.write(chunk);
    if (res.writableLength > MAX_STREAM_BUFFER) {
      log.warn({ remote: req.socket.remoteAddress, buffered: res.writableLength }, "dashboard event stream ended: its client is not reading");
      closed = true;
      // Not end(): that would wait for the unread bytes to drain; the page reconnects by itself.
      res.destroy();
    }
  };
  const write = (name: string, data: string): void => put(`event: ${name}\ndata: ${data}\n\n`);
  const redraw = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        try {
          const text = viewFrame(await api.snapshot());
          if (text !== last) write("view", (last = text));
        } catch (err) {
          log.warn({ err: describeError(err) }, "dashboard snapshot failed");
        }
      } while (again && !ended());
    })().finally(() => (running = undefined));
    return running;
  };
  const off = api.subscribe((change) => {
    if (change.event) write("event", JSON.stringify(change.event));
    void redraw();
  });
  const heartbeat = setInterval(() => put(": ping\n\n"), HEARTBEAT_MS);
  heartbeat.unref();
  res.once("close", () => {
    closed = true;
    off();
    clearInterval(heartbeat);
  });
  return redraw();
}

/** Serves the dashboard's routes; false when `key` is none of them. Called after the API's own gate. */
export async function handleDashboard(
  api: DashboardApi, key: string, url: URL, req: http.IncomingMessage, res: http.ServerResponse, ctx: { streams: StreamSet; log: Logger },
): Promise<boolean> {
  const asset = ASSETS[url.pathname];
  if (req.method === "GET" && asset) {
    res.writeHead(200, { ...PAGE_HEADERS, "content-security-policy": "default-src 'none'", "content-type": asset.type });
    res.end(await readAsset(asset.file));
    return true;
  }
  switch (key) {
    case "GET /": {
      const { html, csp } = await shellPage();
      res.writeHead(200, { ...PAGE_HEADERS, "content-security-policy": csp, "content-type": "text/html; charset=utf-8" });
      res.end(html);
      return true;
    }
    case "GET /api/events":
      await streamEvents(api, req, res, ctx.streams, ctx.log);
      return true;
    case "GET /api/dashboard":
      send(res, 200, { sections: renderSections(await api.snapshot()) });
      return true;
    case "GET /api/task": {
      const project = url.searchParams.get("project") ?? "";
      const id = url.searchParams.get("id") ?? "";
      if (project === "" || id === "") throw new HttpError(400, "`project` and `id` are required");
      const detail = await api.task(project, id);
      if (!detail) throw new HttpError(404, `no task ${project}/${id}`);
      send(res, 200, { ...detail, html: renderTask(detail) });
      return true;
    }
    case "GET /api/sessions/screen": {
      const name = url.searchParams.get("name") ?? "";
      const text = name === "" ? undefined : await api.screen(name);
      if (text === undefined) throw new HttpError(404, `no session ${name} held by the daemon`);
      send(res, 200, { session: name, text, html: renderScreen(name, text) });
      return true;
    }
    case "POST /api/tasks": {
      const body = await objectBody(req);
      const r = await api.submit(str(body, "project"), str(body, "text", 1024 * 1024), originOf(req));
      send(res, r.status, r.body);
      return true;
    }
    case "POST /api/tasks/retry":
    case "POST /api/tasks/cancel": {
      const body = await objectBody(req);
      const fn = key.endsWith("retry") ? api.retry.bind(api) : api.cancel.bind(api);
      const r = await fn(str(body, "project"), str(body, "id"), originOf(req));
      send(res, r.status, r.body);
      return true;
    }
    case "POST /api/dispatch": {
      const body = await objectBody(req);
      if (typeof body.paused !== "boolean") throw new HttpError(400, "`paused` must be true or false");
      const r = await api.setPaused(body.paused, originOf(req));
      send(res, r.status, r.body);
      return true;
    }
    default:
      return false;
  }
}
