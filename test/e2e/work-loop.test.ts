/**
 * The whole path with the real Claude Code CLI: tasks dropped into two projects' inboxes go through
 * the running daemon — claim, launch, paste + separate Enter, Stop hook, done/ with result and
 * footer — while a malformed file lands in failed/ with its reason and a task that outlives its
 * timeout is retried, then failed. The mock's request log shows no prompt delivered twice except
 * by that retry.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { Daemon } from "../../src/daemon/daemon.js";
import { until } from "../support/until.js";
import { startSandboxDaemon, type ClaudeSandbox } from "../support/claude-sandbox.js";

let sb: ClaudeSandbox;
let daemon: Daemon;

before(async () => {
  ({ sb, daemon } = await startSandboxDaemon({ label: "wl", projects: ["alpha", "beta"], pool: { min: 2, max: 3 } }));
});

after(async () => {
  await daemon?.stop();
  await sb?.close();
});

test("tasks across two projects land in done/ with result and footer; a bad file and a timed-out task land in failed/", async () => {
  const tasks: [string, string, string][] = [
    ["alpha", "a1.md", "---\ntitle: multi-line\n---\nTOKEN-A1 read these lines:\none\ntwo\nthree\n"],
    ["alpha", "a2.md", "---\npriority: high\n---\nTOKEN-A2 create a file. MOCK_TOOL: touch made-by-a2.txt\n"],
    ["beta", "b1.md", "TOKEN-B1 plain prompt without frontmatter\n"],
    ["beta", "bad.md", "---\npriority: urgent\n---\nTOKEN-BAD never runs\n"],
    // 8 s: long enough for a loaded machine's CLI to send the prompt before the timeout, far below the mock's delay.
    ["beta", "slow.md", "---\ntimeout: 8s\n---\nTOKEN-SLOW takes too long MOCK_DELAY=60000\n"],
  ];
  for (const [p, n, t] of tasks) await sb.drop(p, n, t);

  await until("every task filed", async () => {
    const filed = (await Promise.all(["alpha", "beta"].flatMap((p) => [sb.files(p, "done"), sb.files(p, "failed")]))).flat().length;
    return filed === tasks.length ? true : undefined;
  }, 150_000, { explain: () => sb.evidence(["wl-1", "wl-2", "wl-3"]) });

  assert.deepEqual(await sb.files("alpha", "done"), ["a1.md", "a2.md"]);
  assert.deepEqual(await sb.files("beta", "done"), ["b1.md"]);
  assert.deepEqual(await sb.files("beta", "failed"), ["bad.md", "slow.md"]);
  for (const p of ["alpha", "beta"]) {
    assert.deepEqual(await sb.files(p, "inbox"), []);
    assert.deepEqual(await sb.files(p, "active"), []);
  }

  const a1 = await sb.read("alpha", "done", "a1.md");
  assert.ok(a1.startsWith(tasks[0]![2]), "the original text comes first");
  assert.match(a1, /## Result\n\n.*MOCK_REPLY_END/s);
  assert.match(a1, /<!-- claude-failover -->\nstatus: done\nsession: wl-\d\naccount: main\nattempts: 1\nstarted: \S+Z\nfinished: \S+Z\nprovider: claude-code\nclaude_session_id: [0-9a-f-]{36}\n/);
  const bad = await sb.read("beta", "failed", "bad.md");
  assert.match(bad, /status: failed\nreason: .*priority.*urgent/);
  const slow = await sb.read("beta", "failed", "slow.md");
  assert.match(slow, /reason: timed out/);
  assert.match(slow, /attempts: 2/);

  // Delivered once per attempt: the prompt reached the model from exactly that many agent sessions
  // (each request's metadata.user_id names the Claude Code session that sent it).
  const sessionsThatSent = (token: string): number =>
    new Set(sb.api.requests.filter((r) => r.kind === "turn" && r.lastUserText?.includes(token)).map((r) => JSON.stringify((r.body as { metadata?: unknown } | undefined)?.metadata))).size;
  assert.equal(sessionsThatSent("TOKEN-A1"), 1);
  assert.equal(sessionsThatSent("TOKEN-B1"), 1);
  assert.equal(sessionsThatSent("TOKEN-BAD"), 0);
  // Retried once: at most one delivery per attempt (a loaded machine may time the second attempt out
  // before its prompt is even sent).
  const slowSends = sessionsThatSent("TOKEN-SLOW");
  assert.ok(slowSends >= 1 && slowSends <= 2, `TOKEN-SLOW sent by ${slowSends} sessions`);

  await until("/status counts per project", async () => {
    const s = (await (await fetch(`${daemon.url}/status`)).json()) as { queue: Record<string, { done: number; failed: number }> };
    return s.queue.alpha?.done === 2 && s.queue.beta?.done === 1 && s.queue.beta.failed === 2 ? true : undefined;
  }, 20_000);
});
