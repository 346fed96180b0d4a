import type { DaemonStatus } from "../daemon/status-view.js";

/** Renders /status as a few aligned tables for a terminal. */
export function formatStatus(body: unknown): string {
  // The daemon's own shape, every part optional: a daemon of another version may leave some out.
  const s = (body ?? {}) as Partial<DaemonStatus>;
  const out: string[] = [];
  out.push(`claude-failover ${s.version ?? "?"} — ${s.lifecycle ?? "?"}${s.started_at ? ` since ${s.started_at}` : ""}`);
  out.push(`active account: ${s.active_account ?? "none"}${s.partial_swap ? "   PARTIAL SWAP: restart the daemon after fixing the links" : ""}`);
  if (s.last_swap) out.push(`last swap: ${s.last_swap.from} → ${s.last_swap.to} at ${s.last_swap.at} (${s.last_swap.reason})`);
  out.push("");
  out.push(table(["ACCOUNT", "STATE"], (s.accounts ?? []).map((a) => [a.name, a.until ? `${a.state} until ${a.until}` : a.state])));
  out.push("");
  out.push(table(["SESSION", "KIND", "STATE", "TASK", "ACCOUNT", "SINCE", "BRANCH"], (s.sessions ?? []).map((r) => [r.name, r.kind, r.state, r.task ?? "-", r.account ?? "-", r.since, r.branch ?? "-"])));
  const projects = Object.entries(s.queue ?? {});
  if (projects.length > 0) {
    out.push("");
    out.push(table(["PROJECT", "INBOX", "ACTIVE", "DELEGATED", "DONE", "FAILED"], projects.map(([p, c]) => [p, ...(["inbox", "active", "delegated", "done", "failed"] as const).map((k) => String(c[k] ?? 0))])));
  }
  return out.join("\n") + "\n";
}

export function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(head), ...rows.map(line)].join("\n");
}
