import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { esc, eventSummary, renderSections, type DashboardSnapshot } from "./view.js";

const HOSTILE = `<img src=x onerror=alert(1)>"'&</script><script>alert(2)</script>`;

function hostileSnapshot(): DashboardSnapshot {
  return {
    active_account: HOSTILE, paused: HOSTILE,
    sessions: [{ name: HOSTILE, kind: HOSTILE, state: HOSTILE, task: `web/${HOSTILE}`, account: HOSTILE, since: HOSTILE, error: HOSTILE }],
    accounts: [{ name: HOSTILE, state: "exhausted", until: HOSTILE, reset_known: false, reason: HOSTILE }, { name: `b${HOSTILE}`, state: "available" }],
    queue: { [HOSTILE]: { inbox: 1, active: 0, delegated: 0, done: 0, failed: 1 } },
    tasks: [
      { project: HOSTILE, id: HOSTILE, state: "inbox", title: HOSTILE, priority: HOSTILE, ageMs: 0 },
      { project: HOSTILE, id: "f", state: "failed", title: HOSTILE, priority: "normal", ageMs: 0 },
    ],
    swaps: [{ from: HOSTILE, to: HOSTILE, at: HOSTILE, reason: HOSTILE }],
    events: [{ ts: HOSTILE, type: HOSTILE, [HOSTILE]: HOSTILE, nested: { a: HOSTILE } }],
    delegation: { active: [{ project: HOSTILE, id: HOSTILE, provider: HOSTILE, submitted_at: HOSTILE, last_status: HOSTILE }], spent_usd: 1.5, daily_budget_usd: 10 },
  };
}

test("esc escapes the five characters that matter in text and in either kind of attribute", () => {
  assert.equal(esc(`<a href="x" title='y'>&</a>`), "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;");
  assert.equal(esc(null), "");
  assert.equal(esc(3), "3");
  fc.assert(fc.property(fc.string(), (s) => !/[<>"']/.test(esc(s)) && !/&(?!amp;|lt;|gt;|quot;|#39;)/.test(esc(s))));
});

test("every section escapes hostile input (titles, names, reasons, event fields): no markup of its own survives", () => {
  const sections = renderSections(hostileSnapshot());
  for (const [name, html] of Object.entries(sections)) {
    assert.doesNotMatch(html, /<img|<script|<\/script/i, name);
    // With every quoted attribute value emptied, no tag may still hold the hostile attribute.
    assert.doesNotMatch(html.replace(/="[^"]*"/g, '=""'), /<[^>]*onerror/, `${name}: no attribute broken out of`);
  }
  assert.match(sections.queue, /&lt;img src=x onerror=alert\(1\)&gt;/);
  // attribute values carrying hostile text stay inside their quotes
  for (const m of sections.queue.matchAll(/data-id="([^"]*)"/g)) assert.doesNotMatch(m[1]!, /[<>"]/);
});

test("status is said in words: states, the paused reason, the countdown's target, the estimated reset", () => {
  const s = renderSections({
    ...hostileSnapshot(), paused: "paused by operator (dashboard)", active_account: "main",
    accounts: [{ name: "main", state: "available" }, { name: "spare", state: "exhausted", until: "2026-12-06T23:00:00.000Z", reset_known: true }],
    sessions: [{ name: "ccl-auto-1", kind: "pool", state: "busy", task: "web/t1", account: "main", since: "2026-12-06T20:00:00.000Z" }],
  });
  assert.match(s.dispatch, />paused<\/span> <span class="why">\(paused by operator \(dashboard\)\)/);
  assert.match(s.dispatch, /data-action="resume"/);
  assert.match(s.accounts, />active</);
  assert.match(s.accounts, />exhausted<\/span> <span class="until">resets <time datetime="2026-12-06T23:00:00.000Z" data-until=/);
  assert.match(s.sessions, />busy<\/span> <time[^>]*data-since="2026-12-06T20:00:00.000Z"/);
  assert.match(s.sessions, /data-action="task" data-project="web" data-id="t1"/);
});

test("an event's summary keeps scalars short, shows a small flat object (the origin) and never dumps deeper values", () => {
  assert.equal(eventSummary({ ts: "t", type: "x", a: 1, b: { deep: { er: "secret-ish" } }, c: "y".repeat(100), l: [1] }), `a=1 b={…} c=${"y".repeat(80)}… l={…}`);
  assert.equal(eventSummary({ ts: "t", type: "operator_action", action: "retry", origin: { via: "dashboard", remote: "::1" } }), "action=retry origin.via=dashboard origin.remote=::1");
});
