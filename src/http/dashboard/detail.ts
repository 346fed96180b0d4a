import { stripAnsi } from "../../claude/ansi.js";
import { esc } from "./view.js";

/** One task as the detail view shows it: where it is and its whole file (frontmatter, text, result or failure, footer). */
export interface TaskDetail {
  project: string;
  id: string;
  folder: "inbox" | "active" | "done" | "failed" | "delegated";
  text: string;
  /** The file was longer than what `text` holds. */
  truncated: boolean;
  attempts: number | null;
  session: string | null;
  account: string | null;
}

function actions(d: TaskDetail): string {
  const data = `data-project="${esc(d.project)}" data-id="${esc(d.id)}"`;
  if (d.folder === "inbox") return `<button type="button" data-action="cancel" ${data}>Cancel this task</button>`;
  if (d.folder === "failed") return `<button type="button" data-action="retry" ${data}>Retry this task</button>`;
  return "";
}

export function renderTask(d: TaskDetail): string {
  const row = (k: string, v: string | number | null): string => `<dt>${esc(k)}</dt><dd>${esc(v ?? "—")}</dd>`;
  return `<h3>Task ${esc(`${d.project}/${d.id}`)}</h3><dl>${row("state", d.folder === "inbox" ? "waiting" : d.folder)}${row("attempts", d.attempts)}`
    + `${row("session", d.session)}${row("account", d.account)}</dl>${actions(d)}`
    + `<pre class="file">${esc(d.text)}${d.truncated ? "\n…" : ""}</pre>`;
}

/** A pane capture as plain text: escape sequences and control characters removed, then HTML-escaped. */
export function renderScreen(session: string, text: string): string {
  return `<h3>Screen of ${esc(session)} <small>(read-only, refreshed while open)</small></h3><pre class="screen" data-screen="${esc(session)}">${esc(stripAnsi(text))}</pre>`;
}
