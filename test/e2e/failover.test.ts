/**
 * Failover with the real Claude Code CLI, two accounts told apart by the mock through their
 * CLAUDE_CODE_OAUTH_TOKEN (login mode: the only mode with the usage-limit banner):
 *  1. account main hits its limit mid-task → swap to backup → the interrupted task completes there,
 *     under the same claude session id (--resume + "continue"), without a second attempt;
 *  2. both accounts hit their limit, with the real reset at second 50 of its minute (the screen shows
 *     only the minute) → dispatch pauses, nothing drains into failed/ → no turn before the end of the
 *     shown minute plus the grace → the daemon resumes by itself, the interrupted task gets its
 *     "continue", and the queue finishes (issue 10).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { buildLaunchCommand, prepareAccountHome, toShellLine } from "../../src/claude/launch.js";
import { writeDaemonHookSettings } from "../../src/daemon/hook-settings.js";
import path from "node:path";
import { loadConfig } from "../../src/config/loader.js";
import { Daemon } from "../../src/daemon/daemon.js";
import { until } from "../support/until.js";
import { CLAUDE_BIN, makeClaudeSandbox, type ClaudeSandbox } from "../support/claude-sandbox.js";

const footerField = (text: string, key: string): string | undefined => new RegExp(`^${key}: (.*)$`, "m").exec(text.slice(text.lastIndexOf("<!-- claude-failover -->")))?.[1];

async function startDaemon(label: string, grace?: number, dedicated: { name: string; cwd: string }[] = []): Promise<{ sb: ClaudeSandbox; daemon: Daemon }> {
  const sb = await makeClaudeSandbox({
    label, projects: ["p"], pool: { min: 1, max: 1 },
    config: { quota: { poll_interval: "1s", confirm_polls: 2, reactivate_cooldown: "1s", usage_api: false } },
    dedicated,
  });
  sb.adoptEnvironment();
  const daemon = new Daemon({ config: await loadConfig(sb.configPath), log: sb.logger(), ...(grace !== undefined ? { resumeGraceMs: grace } : {}) });
  await daemon.start();
  return { sb, daemon };
}

describe("failover", () => {
  let a: { sb: ClaudeSandbox; daemon: Daemon };
  before(async () => {
    a = await startDaemon("fo", undefined, [{ name: "fo-ded", cwd: "work/ded" }, { name: "fo-quiet", cwd: "work/quiet" }]);
  });
  after(async () => {
    await a?.daemon.stop();
    await a?.sb.close();
  });

  test("a limit on main mid-task swaps to backup, and the task completes there under the same claude session id", async () => {
    const { sb, daemon } = a;
    // The operator works in the dedicated session, on main, as `claude --session-id <uuid>` would.
    const dedicatedId = randomUUID();
    const dedCwd = path.join(sb.dir, "work", "ded");
    const mainHome = path.join(sb.home, ".claude-main");
    const operatorAgent = async (session: string, cwd: string, sessionId: string): Promise<void> => {
      const line = toShellLine(buildLaunchCommand({
        command: CLAUDE_BIN, args: ["--dangerously-skip-permissions"], home: mainHome, sessionId, settingsFile: path.join(sb.dir, "state", "claude-settings.json"),
        env: { ANTHROPIC_BASE_URL: sb.api.url, CLAUDE_CODE_OAUTH_TOKEN: "token-main", DISABLE_TELEMETRY: "1", DISABLE_AUTOUPDATER: "1", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1" },
        runningAsRoot: process.getuid?.() === 0,
      }));
      await sb.tmux.sendText(session, `cd ${cwd} && ${line}`);
      await sb.tmux.sendKey(session, "Enter");
      await until(`the operator's agent in ${session} at its prompt`, async () => ((await sb.tmux.capturePane(session)).includes("? for shortcuts") || (await sb.tmux.capturePane(session)).includes("bypass permissions") ? true : undefined), 30_000, { explain: () => sb.evidence([session]) });
    };
    // A second operator agent, never spoken to: it has no transcript, so `--resume` cannot bring it back.
    const quietId = randomUUID();
    // Both folders trusted before either agent starts: a running 2.1.332 writes its own copy of
    // .claude.json back, dropping a trust entry added beside it meanwhile (the second agent then met
    // the folder-trust dialog). One after the other: each call rewrites main's .claude.json.
    await prepareAccountHome({ home: mainHome, cwd: dedCwd });
    await prepareAccountHome({ home: mainHome, cwd: path.join(sb.dir, "work", "quiet") });
    await operatorAgent("fo-ded", dedCwd, dedicatedId);
    await operatorAgent("fo-quiet", path.join(sb.dir, "work", "quiet"), quietId);
    await sb.tmux.sendText("fo-ded", "TOKEN-OPERATOR hello");
    await sb.tmux.sendKey("fo-ded", "Enter");
    await until("the operator's first reply", async () => (sb.api.requests.some((r) => r.kind === "turn" && r.lastUserText?.includes("TOKEN-OPERATOR")) ? true : undefined), 30_000);
    // main's first turn of the task hits the session limit; backup answers.
    sb.api.script({ token: "token-main", respond: { kind: "usage-limit", claim: "five_hour", resetAt: Math.floor(Date.now() / 1000) + 3 * 3600 } });
    await sb.drop("p", "job.md", "TOKEN-JOB do the job\n");
    const evidence = { explain: () => sb.evidence(["fo-1", "fo-ded", "fo-quiet"]) };
    const done = await until("job.md in done/", async () => ((await sb.files("p", "done")).includes("job.md") ? true : undefined), 120_000, evidence);
    assert.equal(done, true);
    const text = await sb.read("p", "done", "job.md");
    assert.equal(footerField(text, "account"), "backup");
    assert.equal(footerField(text, "attempts"), "1");
    const id = footerField(text, "claude_session_id")!;
    assert.match(id, /^[0-9a-f-]{36}$/);
    // The same claude session ran first on main (limit), then on backup (continue).
    const turns = sb.api.requests.filter((r) => r.kind === "turn");
    const byToken = (t: string) => turns.filter((r) => r.token === t && JSON.stringify(r.body).includes(id));
    assert.ok(byToken("token-main").length >= 1, "the task started on main");
    assert.ok(byToken("token-backup").some((r) => r.lastUserText?.includes("continue")), "it was continued on backup");
    const status = (await (await fetch(`${daemon.url}/status`)).json()) as { active_account: string; last_swap: { from: string; to: string } | null; swaps: { from: string; to: string }[]; accounts: { name: string; state: string }[] };
    assert.equal(status.active_account, "backup");
    assert.deepEqual([status.last_swap?.from, status.last_swap?.to], ["main", "backup"]);
    assert.deepEqual(status.swaps.map((x) => `${x.from}>${x.to}`), ["main>backup"]);
    assert.equal(status.accounts.find((x) => x.name === "main")?.state, "exhausted");
    // The dedicated session came back on backup, resumed: same claude session id, CLAUDE_CONFIG_DIR of backup.
    // Both dedicated sessions came back on backup under their ids: the one with a conversation
    // resumed, the quiet one started afresh under the same id.
    const onBackup = async (): Promise<Set<string>> => {
      const ids = new Set<string>();
      for (const f of await readdir(path.join(sb.home, ".claude-backup", "sessions")).catch(() => [] as string[])) {
        const s = JSON.parse(await readFile(path.join(sb.home, ".claude-backup", "sessions", f), "utf8")) as { sessionId?: string };
        if (s.sessionId) ids.add(s.sessionId);
      }
      return ids;
    };
    // The swap ends once every session it brings back is at its prompt (or has failed, with a warning).
    const swap = await until("the swap's record", async () => {
      const events = (await readFile(path.join(sb.dir, "state", "events.jsonl"), "utf8")).split("\n").filter(Boolean).map((l) => JSON.parse(l) as { type: string; outcome?: string; relaunched?: string[] });
      return events.find((e) => e.type === "swap");
    }, 120_000, evidence);
    assert.equal(swap.outcome, "done");
    assert.deepEqual([...(swap.relaunched ?? [])].sort(), ["fo-ded", "fo-quiet"], await sb.evidence(["fo-ded", "fo-quiet"]));
    await until("both dedicated sessions back on backup", async () => {
      const ids = await onBackup();
      return ids.has(dedicatedId) && ids.has(quietId) ? true : undefined;
    }, 30_000, evidence);
    // From the daemon's log, not the pane: 2.1.332 clears the screen and its scrollback at start.
    const log = await readFile(process.env.CF_E2E_LOG ?? path.join(sb.dir, "daemon.log"), "utf8");
    assert.ok(log.split("\n").some((l) => l.includes(quietId) && l.includes("relaunched fresh under the same session id")), "the quiet one was started with --session-id, not --resume");
    assert.doesNotMatch(await sb.tmux.capturePane("fo-quiet"), /No conversation found/);
    const link = await readFile(path.join(sb.home, ".claude"), "utf8").catch(() => undefined);
    assert.equal(link, undefined, "the claude link is a symlink, not a file");
  });
});

describe("all accounts exhausted", () => {
  let b: { sb: ClaudeSandbox; daemon: Daemon };
  before(async () => {
    b = await startDaemon("fx", 2000);
  });
  after(async () => {
    await b?.daemon.stop();
    await b?.sb.close();
  });

  test("both accounts out, the reset at second 50 of its minute: paused, nothing failed, no turn before the shown minute's end + grace, then every task done", async () => {
    const { sb, daemon } = b;
    // The real reset at second 50 of a minute 20–80 s ahead; the screen shows only its minute. Both
    // accounts are at the wall until that very second: a resume before it meets the wall again.
    const resetMs = Math.ceil((Date.now() + 20_000 - 50_000) / 60_000) * 60_000 + 50_000;
    const resetAt = resetMs / 1000;
    const shownMinuteEnd = Math.floor(resetMs / 60_000) * 60_000 + 60_000;
    sb.api.exhaust("token-main", resetAt);
    sb.api.exhaust("token-backup", resetAt);
    await sb.drop("p", "first.md", "TOKEN-FIRST the first job\n");
    const evidence = { explain: () => sb.evidence(["fx-1"]) };
    await until("dispatch paused with every account exhausted", async () => {
      const s = (await (await fetch(`${daemon.url}/status`)).json()) as { dispatch: string; accounts: { state: string }[] };
      return s.dispatch === "paused" && s.accounts.every((a) => a.state === "exhausted") ? true : undefined;
    }, 60_000, evidence);
    await sb.drop("p", "second.md", "TOKEN-SECOND the second job\n");
    // While paused the second task waits in the inbox: never dispatched, never failed.
    await new Promise((r) => setTimeout(r, 3000));
    assert.deepEqual(await sb.files("p", "inbox"), ["second.md"]);
    assert.deepEqual(await sb.files("p", "failed"), []);
    assert.ok(Date.now() < resetMs, "still before the reset: the pause was observed");

    await until("both tasks done after the reset", async () => ((await sb.files("p", "done")).length === 2 ? true : undefined), 150_000, evidence);
    assert.deepEqual(await sb.files("p", "failed"), []);
    const first = await sb.read("p", "done", "first.md");
    assert.equal(footerField(first, "attempts"), "1");
    const events = (await readFile(path.join(sb.dir, "state", "events.jsonl"), "utf8")).split("\n").filter(Boolean).map((l) => JSON.parse(l) as { type: string; outcome?: string; at?: number; task?: string; resetFrom?: string });
    const exhausted = events.find((e) => e.type === "quota_decision" && e.outcome === "exhausted");
    assert.ok(exhausted?.at !== undefined, "the exhaustion was decided and recorded");
    // Never resumed before the end of the shown minute plus the grace (2 s here): the resume at the shown minute
    // (up to 59 s early) is what met the wall again in the field. Every turn after the exhaustion came after it.
    const after = sb.api.requests.filter((r) => r.kind === "turn" && r.receivedAt > exhausted.at! + 1000);
    assert.ok(after.length > 0, "work went on after the reset");
    const early = after.filter((r) => r.receivedAt < shownMinuteEnd + 2000);
    assert.deepEqual(early.map((r) => new Date(r.receivedAt).toISOString()), [], `no turn before ${new Date(shownMinuteEnd + 2000).toISOString()}`);
    assert.ok(after.every((r) => r.status !== 429), "no resume met the wall again");
    // The interrupted task got its continuation (same attempt), not only the waiting one its dispatch.
    assert.ok(events.some((e) => (e.type === "task_continued" || e.type === "task_resumed") && e.task === "first"), "the interrupted task was continued");
  });
});

describe("without hooks", () => {
  let c: { sb: ClaudeSandbox; daemon: Daemon };
  before(async () => {
    c = await startDaemon("fn");
    // Every hook runs `true`: the daemon hears nothing from the agents and sees screens and transcripts only.
    await writeDaemonHookSettings(path.join(c.sb.dir, "state"), c.daemon.url!, ["true"]);
  });
  after(async () => {
    await c?.daemon.stop();
    await c?.sb.close();
  });

  // The recycled-pane screen with the limit menu and the monitor's state across agents, which the
  // benchmark found broken without hooks, are pinned by unit tests (a real capture; a monitor case):
  // here the 1 s polls usually see the banner before the menu opens. This runs the whole path.
  test("a limit met by the second agent of a recycled pool session is seen without hooks: swap, and the task completes on backup", async () => {
    const { sb, daemon } = c;
    const evidence = { explain: () => sb.evidence(["fn-1"]) };
    // The first task leaves its agent's exit message in the pane; the second agent meets the limit there.
    await sb.drop("p", "first.md", "TOKEN-NH-FIRST an ordinary task\n");
    await until("first.md in done/", async () => ((await sb.files("p", "done")).includes("first.md") ? true : undefined), 90_000, evidence);
    sb.api.script({ token: "token-main", prompt: "TOKEN-NH-WALL", times: 1, respond: { kind: "usage-limit", claim: "five_hour", resetAt: Math.floor(Date.now() / 1000) + 3 * 3600 } });
    await sb.drop("p", "second.md", "TOKEN-NH-WALL the task that meets the wall\n");
    await until("second.md in done/", async () => ((await sb.files("p", "done")).includes("second.md") ? true : undefined), 120_000, evidence);
    const second = await sb.read("p", "done", "second.md");
    assert.equal(footerField(second, "account"), "backup");
    assert.equal(footerField(second, "attempts"), "1");
    const events = (await readFile(path.join(sb.dir, "state", "events.jsonl"), "utf8")).split("\n").filter(Boolean).map((l) => JSON.parse(l) as { type: string; outcome?: string; source?: string });
    const decision = events.find((e) => e.type === "quota_decision" && e.outcome === "swap");
    assert.ok(decision && decision.source !== "hook", `decided from ${decision?.source ?? "nothing"}, not a hook`);
    const status = (await (await fetch(`${daemon.url}/status`)).json()) as { active_account: string };
    assert.equal(status.active_account, "backup");
  });
});
