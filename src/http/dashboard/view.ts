import { clipText } from "../../lib/clip.js";
// Server-side rendering of the dashboard's sections. Everything shown passes through esc(): task titles,
// session errors and event fields are hostile input. The page's script only swaps these fragments in.

export interface SessionRow { name: string; kind: string; state: string; task: string | null; account: string | null; since: string; error?: string }
export interface AccountRow { name: string; state: string; until?: string; reset_known?: boolean; reason?: string }
export interface QueueCountsRow { inbox: number; active: number; delegated: number; done: number; failed: number }
export interface TaskRow { project: string; id: string; state: string; title?: string; priority: string; ageMs: number }
export interface SwapRow { from: string; to: string; at: string; reason: string }
/** An events.jsonl line, loosely typed: the page also shows lines read back from the file, maybe by an older version. */
export interface EventRow { ts: string; type: string; [field: string]: unknown }

/** What the daemon hands the dashboard: a view built from /status plus the queue and the event log. */
export interface DashboardSnapshot {
  active_account: string | null;
  /** Why dispatch is held (operator pause, a swap, every account exhausted), or null while it runs. */
  paused: string | null;
  sessions: SessionRow[];
  accounts: AccountRow[];
  queue: Record<string, QueueCountsRow>;
  /** Active, the first waiting (inbox, dispatch order), delegated, and the most recent failed and done tasks. */
  tasks: TaskRow[];
  swaps: SwapRow[];
  events: EventRow[];
  delegation: { active: { project: string; id: string; provider: string; submitted_at: string; last_status?: string }[]; spent_usd: number; daily_budget_usd: number | null } | null;
}

export type Sections = Record<"dispatch" | "sessions" | "accounts" | "queue" | "swaps" | "events" | "delegation", string>;

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** HTML-escapes text and attribute values (both quote kinds, so it is safe in either). */
export function esc(value: string | number | null | undefined): string {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const MAX_SHOWN = 200;
const clip = (s: string, n = MAX_SHOWN): string => clipText(s, n + 1);

/** A `<time>` the page's script keeps ticking: "for 3m" (since), "3m ago" (ago) or "in 1h 02m" (until). */
function clock(kind: "since" | "ago" | "until", iso: string | undefined): string {
  if (!iso) return "";
  return `<time datetime="${esc(iso)}" data-${kind}="${esc(iso)}">${esc(iso)}</time>`;
}

function table(caption: string, head: string[], rows: string[], empty: string): string {
  if (rows.length === 0) return `<p class="empty">${esc(empty)}</p>`;
  return `<table><caption class="sr">${esc(caption)}</caption><thead><tr>${head.map((h) => `<th scope="col">${esc(h)}</th>`).join("")}</tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

/** A state word as text in a badge; the colour (by class) only repeats it. */
function badge(state: string): string {
  return `<span class="badge s-${esc(state.replace(/[^a-z-]/gi, ""))}">${esc(state)}</span>`;
}

function button(action: string, label: string, data: Record<string, string>, extra = ""): string {
  const attrs = Object.entries(data).map(([k, v]) => ` data-${k}="${esc(v)}"`).join("");
  return `<button type="button" data-action="${esc(action)}"${attrs}${extra}>${esc(label)}</button>`;
}

function renderSessions(s: DashboardSnapshot): string {
  const rows = s.sessions.map((r) => `<tr><th scope="row">${button("screen", r.name, { session: r.name }, ` class="link" aria-label="screen of ${esc(r.name)}"`)}</th>`
    + `<td>${esc(r.kind)}</td><td>${badge(r.state)} ${clock("since", r.since)}${r.error ? `<div class="err">${esc(clip(r.error))}</div>` : ""}</td>`
    + `<td>${r.task ? button("task", clip(r.task, 80), taskRef(r.task), ' class="link"') : "—"}</td><td>${esc(r.account ?? "—")}</td></tr>`);
  return table("Sessions", ["Session", "Kind", "State", "Task", "Account"], rows, "No sessions.");
}

// The registry names a task "project/id".
function taskRef(task: string): Record<string, string> {
  const i = task.indexOf("/");
  return i < 0 ? { project: "", id: task } : { project: task.slice(0, i), id: task.slice(i + 1) };
}

function renderAccounts(s: DashboardSnapshot): string {
  const rows = s.accounts.map((a) => {
    const state = a.name === s.active_account ? "active" : a.state;
    const until = a.until ? ` <span class="until">resets ${clock("until", a.until)}${a.reset_known === false ? " (estimated)" : ""}</span>` : "";
    const swap = a.name !== s.active_account && a.state === "available" ? button("swap", "Swap to", { account: a.name }, ` aria-label="swap to ${esc(a.name)}"`) : "";
    return `<tr><th scope="row">${esc(a.name)}</th><td>${badge(state)}${until}${a.reason ? `<div class="err">${esc(clip(a.reason))}</div>` : ""}</td><td>${swap}</td></tr>`;
  });
  return table("Accounts", ["Account", "State", ""], rows, "No accounts.");
}

function renderQueue(s: DashboardSnapshot): string {
  const projects = Object.keys(s.queue).sort();
  if (projects.length === 0) return `<p class="empty">No projects.</p>`;
  return projects.map((p) => {
    const c = s.queue[p]!;
    const tasks = s.tasks.filter((t) => t.project === p);
    const items = tasks.map((t) => {
      const label = t.title ? `${clip(t.title, 120)} (${t.id})` : t.id;
      const act = t.state === "inbox" ? button("cancel", "Cancel", { project: p, id: t.id }, ` aria-label="cancel ${esc(t.id)}"`)
        : t.state === "failed" ? button("retry", "Retry", { project: p, id: t.id }, ` aria-label="retry ${esc(t.id)}"`) : "";
      const prio = t.priority !== "normal" ? ` <span class="prio">${esc(t.priority)}</span>` : "";
      return `<li data-task="${esc(`${p}/${t.id}`)}">${badge(t.state === "inbox" ? "waiting" : t.state)} ${button("task", label, { project: p, id: t.id }, ' class="link"')}${prio} ${act}</li>`;
    });
    const counts = `waiting ${c.inbox} · active ${c.active}${c.delegated ? ` · delegated ${c.delegated}` : ""} · done ${c.done} · failed ${c.failed}`;
    // The list holds the first waiting tasks only (the daemon bounds it): the rest are counted.
    const more = c.inbox - tasks.filter((t) => t.state === "inbox").length;
    const rest = more > 0 ? `<p class="more">… and ${esc(more)} more waiting</p>` : "";
    return `<section class="project" aria-label="project ${esc(p)}"><h3>${esc(p)} <small>${esc(counts)}</small></h3>`
      + (items.length ? `<ol class="tasks">${items.join("")}</ol>` : rest ? "" : `<p class="empty">Nothing waiting.</p>`) + rest + `</section>`;
  }).join("");
}

function renderSwaps(s: DashboardSnapshot): string {
  const rows = [...s.swaps].reverse().slice(0, 10).map((w) => `<tr><td>${clock("ago", w.at)}</td><td>${esc(w.from)} → ${esc(w.to)}</td><td>${esc(clip(w.reason))}</td></tr>`);
  return table("Last swaps", ["When", "Swap", "Reason"], rows, "No swaps yet.");
}

const isScalar = (v: unknown): boolean => v === null || ["string", "number", "boolean"].includes(typeof v);

/**
 * One event line: its type and its scalar fields. A small object of scalars (an action's origin) is
 * shown one level down; anything deeper is summarised, never dumped.
 */
export function eventSummary(e: EventRow): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(e)) {
    if (k === "ts" || k === "type") continue;
    if (v !== null && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length <= 4 && Object.values(v).every(isScalar)) {
      for (const [k2, v2] of Object.entries(v as Record<string, unknown>)) parts.push(`${k}.${k2}=${clip(String(v2), 80)}`);
      continue;
    }
    const text = v !== null && typeof v === "object" ? "{…}" : String(v);
    parts.push(`${k}=${clip(text, 80)}`);
  }
  return clip(parts.join(" "), 400);
}

function renderEvents(s: DashboardSnapshot): string {
  const rows = [...s.events].reverse().slice(0, 40).map((e) => `<li><time datetime="${esc(e.ts)}">${esc(e.ts.slice(11, 19))}</time> <b>${esc(e.type)}</b> <span>${esc(eventSummary(e))}</span></li>`);
  return rows.length ? `<ol class="events">${rows.join("")}</ol>` : `<p class="empty">No events yet.</p>`;
}

function renderDelegation(s: DashboardSnapshot): string {
  const d = s.delegation;
  if (!d) return `<p class="empty">Delegation is off.</p>`;
  const budget = d.daily_budget_usd === null ? "" : ` of $${d.daily_budget_usd.toFixed(2)}`;
  const rows = d.active.map((j) => `<tr><td>${esc(`${j.project}/${j.id}`)}</td><td>${esc(j.provider)}</td><td>${badge(j.last_status ?? "submitted")}</td><td>${clock("ago", j.submitted_at)}</td></tr>`);
  return `<p>Spent today: $${esc(d.spent_usd.toFixed(2))}${esc(budget)}</p>${table("Delegated jobs", ["Task", "Provider", "Status", "Submitted"], rows, "No delegated jobs.")}`;
}

function renderDispatch(s: DashboardSnapshot): string {
  const state = s.paused === null ? "running" : "paused";
  const why = s.paused === null ? "" : ` <span class="why">(${esc(clip(s.paused))})</span>`;
  const toggle = s.paused === null ? button("pause", "Pause dispatch", {}) : button("resume", "Resume dispatch", {});
  return `<p>Dispatch: ${badge(state)}${why} · active account: <b>${esc(s.active_account ?? "none")}</b> ${toggle}</p>`;
}

/** Every section of the page, as HTML fragments keyed by the id of the element they fill. */
export function renderSections(s: DashboardSnapshot): Sections {
  return {
    dispatch: renderDispatch(s), sessions: renderSessions(s), accounts: renderAccounts(s), queue: renderQueue(s),
    swaps: renderSwaps(s), events: renderEvents(s), delegation: renderDelegation(s),
  };
}
