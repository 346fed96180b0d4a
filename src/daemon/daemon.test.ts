import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { loadConfig } from "../config/loader.js";
import { FakeClock } from "../lib/test-clock.js";
import { silentLogger } from "../lib/logger.js";
import { FakeTmuxClient } from "../tmux/fake.js";
import { privateTmux } from "../../test/support/tmux-server.js";
import { makeSandbox, type Sandbox } from "../../test/support/sandbox.js";
import type { Config } from "../config/schema.js";
import { Daemon, StartupError } from "./daemon.js";
import { sseReader } from "../http/dashboard/test-sse.js";

/** A started daemon on a fresh sandbox's config (fake clock, fake tmux, a free loopback port); stopped and removed after `fn`. */
async function withFakeDaemon(fn: (x: { sb: Sandbox; config: Config; d: Daemon }) => Promise<void>): Promise<void> {
  const sb = await makeSandbox();
  try {
    const config = await loadConfig(await sb.writeConfig());
    const d = new Daemon({ config, log: silentLogger(), clock: new FakeClock(), tmux: new FakeTmuxClient(), listen: "127.0.0.1:0" });
    await d.start();
    try {
      await fn({ sb, config, d });
    } finally {
      await d.stop();
    }
  } finally {
    await sb.close();
  }
}

const swapThrough = (d: Daemon) => (body: unknown) => fetch(`${d.url}/api/swap`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

describe("Daemon", () => {
  // Real tmux: the one fast test of the daemon's own wiring (no injected client: CliTmuxClient on config.tmux.socket,
  // and the tmux lock beside that socket) against a server holding foreign sessions.
  test("starts on a private tmux socket: pool held, foreign sessions untouched, /health and /status answer, killed session recreated, stop leaves tmux", async () => {
    const tmux = privateTmux("daemon");
    const sb = await makeSandbox({ socket: tmux.socket });
    try {
      await tmux.client.newSession({ name: "ccl-0", cwd: sb.dir, command: ["cat"] });
      await tmux.client.newSession({ name: "cf-pool-9", cwd: sb.dir, command: ["cat"] });
      const config = await loadConfig(await sb.writeConfig({ pool: { autonomous: { prefix: "cf-pool-", start_index: 1, min: 2, max: 4, cwd: sb.dir }, dedicated: [{ name: "cf-dedicated", cwd: sb.dir }] } }));
      const clock = new FakeClock();
      const daemon = new Daemon({ config, log: silentLogger(), clock, listen: "127.0.0.1:0" });
      await daemon.start();
      const names = async () => (await tmux.client.listSessions()).map((s) => s.name).sort();
      assert.deepEqual(await names(), ["ccl-0", "cf-dedicated", "cf-pool-1", "cf-pool-2", "cf-pool-9"]);

      const health = await fetch(`${daemon.url}/health`);
      assert.equal(health.status, 200);
      const status = (await (await fetch(`${daemon.url}/status`)).json()) as { active_account: string; sessions: { name: string; kind: string; state: string }[] };
      assert.equal(status.active_account, "main");
      assert.deepEqual(status.sessions.filter((s) => s.state === "idle").map((s) => `${s.kind}:${s.name}`), ["dedicated:cf-dedicated", "pool:cf-pool-1", "pool:cf-pool-2"]);

      await tmux.client.killSession("cf-pool-2");
      // The reconcile loop wakes every 15 s of the (fake) clock.
      await clock.advance(15_000);
      for (const deadline = Date.now() + 15_000; Date.now() < deadline && !(await tmux.client.hasSession("cf-pool-2"));) await new Promise((r) => setTimeout(r, 20));
      assert.equal(await tmux.client.hasSession("cf-pool-2"), true);

      await daemon.stop();
      assert.equal(daemon.status, "stopped");
      assert.deepEqual(await names(), ["ccl-0", "cf-dedicated", "cf-pool-1", "cf-pool-2", "cf-pool-9"]);
      const events = (await readFile(path.join(config.state_dir, "events.jsonl"), "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { type: string });
      assert.deepEqual(events.map((e) => e.type), ["daemon_started", "daemon_stopping"]);
      assert.equal((await stat(path.join(config.state_dir, "state.json"))).mode & 0o777, 0o600);
      assert.equal((await stat(config.state_dir)).mode & 0o777, 0o700);
    } finally {
      await tmux.close();
      await sb.close();
    }
  });

  test("state survives a restart: the active account is kept", async () => {
    const sb = await makeSandbox();
    try {
      const config = await loadConfig(await sb.writeConfig());
      const first = new Daemon({ config, log: silentLogger(), clock: new FakeClock(), tmux: new FakeTmuxClient(), listen: "127.0.0.1:0" });
      await first.start();
      await first.stop();
      const saved = JSON.parse(await readFile(path.join(config.state_dir, "state.json"), "utf8")) as { data: { active_account: string } };
      assert.equal(saved.data.active_account, "main");
      const second = new Daemon({ config, log: silentLogger(), clock: new FakeClock(), tmux: new FakeTmuxClient(), listen: "127.0.0.1:0" });
      await second.start();
      assert.equal(second.statusView().active_account, "main");
      await second.stop();
    } finally {
      await sb.close();
    }
  });

  test("at start, attempt counts of tasks no longer queued are dropped; those of waiting, delegated and re-queued tasks kept", async () => {
    const sb = await makeSandbox();
    try {
      const project = path.join(sb.dir, "proj");
      await mkdir(project);
      const config = await loadConfig(await sb.writeConfig({ queue: { root: path.join(sb.dir, "queue"), projects: { p: project } } }));
      const first = new Daemon({ config, log: silentLogger(), clock: new FakeClock(), tmux: new FakeTmuxClient(), listen: "127.0.0.1:0" });
      await first.start();
      await first.stop();
      const file = path.join(config.state_dir, "state.json");
      const saved = JSON.parse(await readFile(file, "utf8")) as { data: { attempts: Record<string, number> } };
      // Done by hand, deleted, delegated and completed: nothing left of "gone"; "old" is a project no longer configured.
      saved.data.attempts = { "p/gone": 2, "p/waiting": 1, "p/marked": 1, "p/claimed": 1, "old/t": 3 };
      await writeFile(file, JSON.stringify(saved));
      const inbox = path.join(config.queue.root, "p", "inbox");
      await writeFile(path.join(inbox, "waiting.md"), "a task waiting for its second attempt\n");
      await writeFile(path.join(inbox, "marked.md.delegated"), "a delegated task\n");
      // Claimed just before a crash, never recorded: adoption puts it back in the inbox.
      await writeFile(path.join(config.queue.root, "p", "active", "claimed.md"), "a claimed task\n");
      const second = new Daemon({ config, log: silentLogger(), clock: new FakeClock(), tmux: new FakeTmuxClient(), listen: "127.0.0.1:0" });
      await second.start();
      await second.stop();
      const after = JSON.parse(await readFile(file, "utf8")) as { data: { attempts: Record<string, number> } };
      assert.deepEqual(after.data.attempts, { "p/waiting": 1, "p/marked": 1, "p/claimed": 1 });
    } finally {
      await sb.close();
    }
  });

  test("the active account follows the claude link when state has none", async () => {
    const sb = await makeSandbox();
    try {
      await symlink(path.join(sb.home, ".claude-backup"), path.join(sb.home, ".claude"));
      const config = await loadConfig(await sb.writeConfig());
      const d = new Daemon({ config, log: silentLogger(), clock: new FakeClock(), tmux: new FakeTmuxClient(), listen: "127.0.0.1:0" });
      await d.start();
      assert.equal(d.statusView().active_account, "backup");
      await d.stop();
    } finally {
      await sb.close();
    }
  });

  test("refuses to start, listing every problem: missing home, divergent link, real folder in place of a link", async () => {
    const sb = await makeSandbox();
    try {
      await symlink("/somewhere/else", path.join(sb.home, ".claude-main", "projects"));
      await mkdir(path.join(sb.home, ".claude-backup", "session-env"));
      const config = await loadConfig(await sb.writeConfig({
        accounts: [
          { name: "main", home: path.join(sb.home, ".claude-main") },
          { name: "backup", home: path.join(sb.home, ".claude-backup") },
          { name: "ghost", home: path.join(sb.home, ".claude-ghost") },
        ],
      }));
      const tmux = new FakeTmuxClient();
      const d = new Daemon({ config, log: silentLogger(), clock: new FakeClock(), tmux, listen: "127.0.0.1:0" });
      await assert.rejects(d.start(), (e: unknown) => {
        assert.ok(e instanceof StartupError);
        const all = e.problems.join("\n");
        assert.match(all, /\.claude-main\/projects \[divergent\]/);
        assert.match(all, /\.claude-backup\/session-env \[not-a-link\]/);
        assert.match(all, /\.claude-ghost \[home-missing\]/);
        return true;
      });
      assert.equal(d.status, "stopped");
      assert.deepEqual(tmux.touched("new-session"), []);
      // The divergent link and the real folder are left exactly as they were.
      assert.equal((await stat(path.join(sb.home, ".claude-backup", "session-env"))).isDirectory(), true);
    } finally {
      await sb.close();
    }
  });

  test("refuses to start when tmux is missing", async () => {
    const sb = await makeSandbox();
    try {
      const config = await loadConfig(await sb.writeConfig());
      const { CliTmuxClient } = await import("../tmux/cli-client.js");
      const d = new Daemon({ config, log: silentLogger(), clock: new FakeClock(), tmux: new CliTmuxClient({ binary: "/nonexistent/tmux", socket: "cf-x" }), listen: "127.0.0.1:0" });
      await assert.rejects(d.start(), (e: unknown) => e instanceof StartupError && /tmux binary not found/.test(e.problems.join("\n")));
    } finally {
      await sb.close();
    }
  });

  test("hooks: a spooled event is drained at start, a live one is taken by POST /api/hook, a bad one is refused", async () => {
    const sb = await makeSandbox();
    try {
      const config = await loadConfig(await sb.writeConfig());
      const { spoolEnvelope, spoolDir } = await import("../claude/hook-client.js");
      const id1 = "11111111-2222-4333-8444-555555555555";
      const id2 = "66666666-7777-4888-9999-000000000000";
      await spoolEnvelope(config.state_dir, "Stop", JSON.stringify({ event: "Stop", payload: { session_id: id1, hook_event_name: "Stop", last_assistant_message: "spooled" }, received_at: "2026-01-01T00:00:00Z" }));
      const clock = new FakeClock();
      const d = new Daemon({ config, log: silentLogger(), clock, tmux: new FakeTmuxClient(), listen: "127.0.0.1:0" });
      await d.start();
      assert.equal(d.hooks.stopSince(id1, 0)?.message, "spooled");
      // An agent posting to a dead address spools while the daemon runs: drained within seconds.
      const id3 = "77777777-8888-4999-8aaa-bbbbbbbbbbbb";
      await spoolEnvelope(config.state_dir, "Stop", JSON.stringify({ event: "Stop", payload: { session_id: id3, last_assistant_message: "late" }, received_at: "2026-01-01T00:00:01Z" }));
      await clock.advance(5_000);
      for (const deadline = Date.now() + 5_000; Date.now() < deadline && !d.hooks.stopSince(id3, 0);) await new Promise((r) => setTimeout(r, 10));
      assert.equal(d.hooks.stopSince(id3, 0)?.message, "late");
      const { readdir } = await import("node:fs/promises");
      assert.deepEqual((await readdir(spoolDir(config.state_dir))).filter((f) => f.endsWith(".json")), []);
      const post = (body: unknown) => fetch(`${d.url}/api/hook`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      const ok = await post({ event: "StopFailure", payload: { session_id: id2, error: "rate_limit", last_assistant_message: "You've hit your session limit · resets 3pm" }, received_at: new Date().toISOString() });
      assert.equal(ok.status, 202);
      assert.equal(d.hooks.failureSince(id2, 0)?.error, "rate_limit");
      assert.equal((await post({ event: "Stop", payload: {}, received_at: "not a date" })).status, 400);
      const settings = JSON.parse(await readFile(path.join(config.state_dir, "claude-settings.json"), "utf8")) as { hooks: Record<string, { hooks: { command: string }[] }[]> };
      assert.match(settings.hooks.Stop![0]!.hooks[0]!.command, new RegExp(`hook --url ${d.url!.replace(/\./g, "\\.")} --state-dir .* Stop$`));
      await d.stop();
    } finally {
      await sb.close();
    }
  });

  test("POST /api/swap runs the swap: the claude link flips to the target home, /status shows it; bad targets are 400", () =>
    withFakeDaemon(async ({ sb, config, d }) => {
      const swap = swapThrough(d);
      const ok = await swap({ to: "backup" });
      assert.equal(ok.status, 200, await ok.clone().text());
      assert.deepEqual(((await ok.json()) as { from: string; to: string }).to, "backup");
      const { readlink } = await import("node:fs/promises");
      assert.equal(path.resolve(path.dirname(config.claude.link), await readlink(config.claude.link)), path.join(sb.home, ".claude-backup"));
      const status = (await (await fetch(`${d.url}/status`)).json()) as { active_account: string; swaps: { from: string; to: string }[]; partial_swap: boolean };
      assert.equal(status.active_account, "backup");
      assert.deepEqual(status.swaps.map((x) => `${x.from}>${x.to}`), ["main>backup"]);
      assert.equal(status.partial_swap, false);
      assert.equal((await swap({ to: "backup" })).status, 400, "the current account");
      assert.equal((await swap({ to: "nobody" })).status, 400, "an unknown account");
      assert.equal((await swap({ to: 42 })).status, 400, "not a name");
    }));

  test("the dashboard through the daemon: GET / and /api/events (sessions, accounts), pause from the page in /status, actions in events.jsonl with their origin", () =>
    withFakeDaemon(async ({ config, d }) => {
      assert.match(await (await fetch(`${d.url}/`)).text(), /<title>claude-failover<\/title>/);
      const sse = sseReader(await fetch(`${d.url}/api/events`));
      const view = JSON.parse((await sse.next()).data) as Record<string, string>;
      for (const name of config.accounts.map((a) => a.name)) assert.match(view.accounts!, new RegExp(`>${name}<`));
      assert.match(view.dispatch!, />running</);
      const page = { "content-type": "application/json", "x-cf-origin": "dashboard" };
      assert.equal((await fetch(`${d.url}/api/dispatch`, { method: "POST", headers: page, body: '{"paused":true}' })).status, 200);
      const status = (await (await fetch(`${d.url}/status`)).json()) as { dispatch: string };
      assert.equal(status.dispatch, "paused");
      for (;;) {
        const f = await sse.next();
        if (f.event === "view" && /paused by operator \(dashboard\)/.test(f.data)) break;
      }
      await sse.cancel();
      assert.equal((await swapThrough(d)({ to: "backup" })).status, 200);
      await d.stop();
      const actions = (await readFile(path.join(config.state_dir, "events.jsonl"), "utf8")).split("\n").filter(Boolean)
        .map((l) => JSON.parse(l) as { type: string; action?: string; origin?: { via: string } }).filter((e) => e.type === "operator_action");
      assert.deepEqual(actions.map((e) => [e.action, e.origin?.via]), [["pause", "dashboard"], ["swap", "api"]]);

      // The operator's pause outlives a restart; resuming is kept too.
      const restart = async (check: (dispatch: string) => Promise<void>) => {
        const again = new Daemon({ config, log: silentLogger(), clock: new FakeClock(), tmux: new FakeTmuxClient(), listen: "127.0.0.1:0" });
        await again.start();
        try {
          await check(((await (await fetch(`${again.url}/status`)).json()) as { dispatch: string }).dispatch);
          assert.equal((await fetch(`${again.url}/api/dispatch`, { method: "POST", headers: page, body: '{"paused":false}' })).status, 200);
        } finally {
          await again.stop();
        }
      };
      await restart(async (dispatch) => assert.equal(dispatch, "paused", "still paused after the restart"));
      await restart(async (dispatch) => assert.notEqual(dispatch, "paused", "resumed before the restart"));
    }));

  test("a partial swap through POST /api/swap: 500, /health 503 with the reason, /status shows it, further swaps refused with 409", () =>
    withFakeDaemon(async ({ sb, config, d }) => {
      const { mkdir: mkdirp, rename, rm, symlink, writeFile, readlink } = await import("node:fs/promises");
      // The target's shared link points elsewhere (ensure fails) and the previous home became
      // a file (the flip back fails too). Planted after start: `run` refuses to start on either.
      const main = path.join(sb.home, ".claude-main");
      await mkdirp(path.join(sb.dir, "someone-elses-transcripts"));
      await rm(path.join(sb.home, ".claude-backup", "projects"));
      await symlink(path.join(sb.dir, "someone-elses-transcripts"), path.join(sb.home, ".claude-backup", "projects"));
      await rename(main, `${main}.moved`);
      await writeFile(main, "not a folder");
      const swap = swapThrough(d);
      const first = await swap({ to: "backup" });
      assert.equal(first.status, 500, await first.clone().text());
      assert.equal(((await first.json()) as { code: string }).code, "SWAP_PARTIAL");
      const health = await fetch(`${d.url}/health`);
      assert.equal(health.status, 503);
      assert.match(((await health.json()) as { reason: string }).reason, /^partial-swap since .*failed too/);
      const status = (await (await fetch(`${d.url}/status`)).json()) as { partial_swap: boolean; swap_state: string; active_account: string };
      assert.deepEqual([status.partial_swap, status.swap_state, status.active_account], [true, "partial-swap", "main"]);
      assert.equal(path.resolve(path.dirname(config.claude.link), await readlink(config.claude.link)), path.join(sb.home, ".claude-backup"), "the link is left where the failure put it, never guessed");
      const again = await swap({ to: "backup" });
      assert.equal(again.status, 409);
      assert.equal(((await again.json()) as { code: string }).code, "SWAP_PARTIAL_STATE");
    }));

  test("stop() is idempotent and a stopped daemon reports 503-worthy health", () =>
    withFakeDaemon(async ({ d }) => {
      const a = d.stop();
      assert.equal(a, d.stop());
      await a;
      assert.deepEqual(d.health(), { ok: false, reason: "daemon is stopped" });
    }));
});
