import { createHash, timingSafeEqual } from "node:crypto";
import type http from "node:http";

/** Why the gate refused a request: the status to answer and the reason to show. */
export interface GateRefusal {
  status: 400 | 401 | 421;
  message: string;
  headers?: Record<string, string>;
}

/** Checks one request before any route sees it; undefined means it may pass. */
export type RequestGate = (req: http.IncomingMessage) => GateRefusal | undefined;

export interface GatePolicy {
  /** The configured bearer token; every request must present it when set. */
  token?: string;
  /** The host part of http.listen (`127.0.0.1`, `::1`, a name); accepted as a Host besides the loopback names. */
  listenHost?: string;
  /** http.allowed_hosts: further host names a request may address. */
  allowedHosts?: readonly string[];
  /** Requests that need no token because they carry no data (the dashboard's shell); the Host check still applies. */
  open?: (req: http.IncomingMessage) => boolean;
}

const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "::1"];

function sha256(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

/** Constant-time comparison of a presented bearer token with the configured one. */
export function tokenMatches(header: string | undefined, token: string): boolean {
  const presented = /^Bearer (.+)$/.exec(header ?? "")?.[1] ?? "";
  return timingSafeEqual(sha256(presented), sha256(token));
}

/** Splits a Host header into a lower-case name (v6 without brackets, no trailing dot) and its port; undefined if malformed. */
export function parseHostHeader(value: string): { name: string; port: number | undefined } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9._-]+))(?::(\d{1,5}))?$/.exec(value.trim());
  if (!m) return undefined;
  const name = (m[1] ?? m[2] ?? "").toLowerCase().replace(/\.$/, "");
  return { name, port: m[3] === undefined ? undefined : Number(m[3]) };
}

/**
 * The one check every HTTP route goes through (API and dashboard alike). A page on another origin can
 * reach a loopback port by DNS rebinding, but its requests then carry the attacker's name in Host: only
 * the listen address, the loopback names and http.allowed_hosts pass (421 otherwise), on the port the
 * request actually arrived at. Then the bearer token, when one is configured (401).
 */
export function createRequestGate(policy: GatePolicy): RequestGate {
  const names = new Set([...LOOPBACK_NAMES, ...(policy.allowedHosts ?? [])].map((n) => n.toLowerCase().replace(/\.$/, "")));
  if (policy.listenHost) names.add(policy.listenHost.toLowerCase().replace(/^\[(.*)\]$/, "$1"));
  return (req) => {
    const raw = req.headers.host;
    const host = raw === undefined ? undefined : parseHostHeader(raw);
    if (!host || !names.has(host.name) || (host.port !== undefined && host.port !== req.socket.localPort)) {
      return { status: 421, message: `Host ${JSON.stringify(raw ?? "")} is not an address of this daemon (see http.allowed_hosts)` };
    }
    if (policy.token !== undefined && !policy.open?.(req) && !tokenMatches(req.headers.authorization, policy.token)) {
      return { status: 401, message: "missing or wrong bearer token", headers: { "www-authenticate": "Bearer" } };
    }
    return undefined;
  };
}
