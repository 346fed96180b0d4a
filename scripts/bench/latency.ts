// Dispatch and completion latency (contract §10) with the real CLI against the mock model API, each next
// to its floors measured in the same sandbox: a tmux round trip, a durable rename, the agent's own
// start-up to its idle prompt, and one run of the hook client.
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { watch } from "node:fs";
import { access, mkdir, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { buildLaunchCommand, prepareAccountHome, toShellLine } from "../../src/claude/launch.js";
import { classifyScreen } from "../../src/claude/screen.js";
import { HOOK_SETTINGS_FILE, selfCommand, writeDaemonHookSettings } from "../../src/daemon/hook-settings.js";
import { agentEnv } from "../../src/daemon/work-wiring.js";
import { AgentDriver } from "../../src/dispatch/agent-driver.js";
import { moveDurably } from "../../src/lib/atomic-fs.js";
import { systemClock } from "../../src/lib/clock.js";
import { silentLogger } from "../../src/lib/logger.js";
import { shellQuote } from "../../src/lib/shell-quote.js";
import { isShell } from "../../src/tmux/shells.js";
import type { ClaudeSandbox } from "../../test/support/claude-sandbox.js";
import { openSandbox, sessionStates, startDaemon, type BenchContext, type RunningDaemon } from "./harness.js";
import { now, procCpuMs, sleep, waitFor, type TmuxCall } from "./support.js";

export interface LatencyResults {
  tmuxRoundTrip: number[];
  renameFsync: number[];
  agentStart: number[];
  /** Launch line entered → SessionStart hook at the daemon. */
  agentSessionStartHook: number[];
  agentExit: number[];
  hookClient: { label: string; post: number[]; exit: number[]; cpu: number[] }[];
  /** What the agents' hooks ran in the dispatch series. */
  hookMode: string;
  dispatch: {
    total: number[];
    toMock: number[];
    claim: number[];
    toLaunch: number[];
    agentStart: number[];
    submit: number[];
    /** Pasted → Enter sent: the daemon waits for the paste to show in the input box. */
    pasteShown: number[];
    /** Enter sent → UserPromptSubmit at the daemon: the CLI takes the prompt and runs the hook client. */
    enterToHook: number[];
    /** Launch line entered → the new agent's SessionStart at the daemon. */
    sessionStart: number[];
    /** Enter sent → SessionStart at the daemon (negative: SessionStart came first). */
    enterToSessionStart: number[];
    /** SessionStart at the daemon → UserPromptSubmit at the daemon. */
    sessionStartToPrompt: number[];
    tmuxExecs: number[];
  };
  completion: number[];
  /** Stop → the finished file staged in active/ (wake, supervise, copy + append + fsync, rename). */
  completionStaged: number[];
  completionTmuxExecs: number[];
  recycle: number[];
  failures: string[];
}

interface HookMark {
  kind: string;
  id: string;
  at: number;
}

const PROJECT = "bench";
const POOL_SESSION = "bench-1";
const FLOOR_SESSION = "floor";

export async function runLatency(ctx: BenchContext): Promise<LatencyResults> {
  const sb = await openSandbox(ctx, "bench", [PROJECT], { min: 1, max: 1 });
  const run = await startDaemon(ctx, sb, "latency");
  const { daemon, config } = run;
  const stateDir = config.state_dir;
  const settingsFile = path.join(stateDir, HOOK_SETTINGS_FILE);
  // The daemon under tsx writes hooks that run `node --import tsx src/main.ts hook`; an installed
  // daemon runs the compiled CLI. Agents read the settings at launch, so rewriting the file gives the
  // production hook path (the daemon's own writer, with the compiled CLI as the hook program).
  let hookMode = `tsx (${selfCommand().slice(1).join(" ")})`;
  if (ctx.compiledCli) {
    await writeDaemonHookSettings(stateDir, daemon.url!, ctx.compiledCli);
    hookMode = "compiled (node dist/main.js hook)";
  }
  const hooks: HookMark[] = [];
  daemon.hooks.subscribe((e) => hooks.push({ kind: e.kind, id: e.sessionId, at: now() }));

  const r: LatencyResults = {
    tmuxRoundTrip: [], renameFsync: [], agentStart: [], agentSessionStartHook: [], agentExit: [], hookClient: [], hookMode,
    dispatch: { total: [], toMock: [], claim: [], toLaunch: [], agentStart: [], submit: [], pasteShown: [], enterToHook: [], sessionStart: [], enterToSessionStart: [], sessionStartToPrompt: [], tmuxExecs: [] },
    completion: [], completionStaged: [], completionTmuxExecs: [], recycle: [], failures: [],
  };
  await waitFor(`${POOL_SESSION} in the pool`, () => (sessionStates(daemon).some((s) => s.name === POOL_SESSION && s.state === "idle") ? true : undefined), 20_000);

  const floors = await prepareFloors(ctx, sb, run, settingsFile, hooks, r);
  const tasks = await prepareTasks(sb, run, hooks, r);
  // Floors and tasks alternate, so each pair is measured under the same load of the machine.
  ctx.say(`  ${ctx.opts.tasks} rounds: floors (tmux round trips, durable renames, a hook client run, an agent start-up and its exit), then one task`);
  try {
    for (let i = 1; i <= ctx.opts.tasks; i++) {
      await floors.round();
      await tasks.run(i);
    }
  } finally {
    tasks.close();
  }
  if (ctx.compiledCli) {
    ctx.say("  the hook client under tsx (the demo's and the tests' hook path), 3 runs");
    const tsx = { label: "tsx", post: [] as number[], exit: [] as number[], cpu: [] as number[] };
    for (let i = 0; i < 3; i++) addHookRun(tsx, await runHookClient(ctx, selfCommand(), daemon.url!, stateDir, hooks));
    r.hookClient.push(tsx);
  }
  await run.stop();
  return r;
}

interface HookRun {
  post: number;
  exit: number;
  cpu: number;
}

function addHookRun(into: { post: number[]; exit: number[]; cpu: number[] }, run: HookRun): void {
  into.post.push(run.post);
  into.exit.push(run.exit);
  into.cpu.push(run.cpu);
}

/** One run of the hook command with a Notification payload: spawn → POST received, spawn → exit, its CPU. */
async function runHookClient(ctx: BenchContext, argv: string[], url: string, stateDir: string, hooks: HookMark[]): Promise<HookRun> {
  const id = randomUUID();
  // The hook process is our child: its CPU shows in our children's time once it is reaped.
  const cpu0 = procCpuMs("self")?.children ?? NaN;
  const t0 = now();
  const child = spawn(argv[0]!, [...argv.slice(1), "hook", "--url", url, "--state-dir", stateDir, "Notification"], { stdio: ["pipe", "ignore", "ignore"] });
  const untrack = ctx.track(async () => child.kill("SIGKILL"));
  child.stdin.end(JSON.stringify({ session_id: id, hook_event_name: "Notification", message: "bench", notification_type: "idle_prompt" }));
  await new Promise((resolve) => child.on("close", resolve));
  untrack();
  const exit = now() - t0;
  const seen = hooks.find((h) => h.id === id);
  return { post: seen ? seen.at - t0 : NaN, exit, cpu: (procCpuMs("self")?.children ?? NaN) - cpu0 };
}

/**
 * The floors, one round per task: 5 tmux round trips, 5 durable renames between two folders, one
 * run of the hook client the agents use, and the real CLI started the way the daemon starts it (same
 * launch line, account home, hook settings) in a session outside the pool, its idle prompt polled
 * every 50 ms, then its exit (Ctrl-C) through the daemon's own driver. One uncounted start first warms the page cache.
 * Every agent start, here and in the tasks, begins once the previous agent's hook processes are done.
 */
async function prepareFloors(ctx: BenchContext, sb: ClaudeSandbox, run: RunningDaemon, settingsFile: string, hooks: HookMark[], r: LatencyResults): Promise<{ round(): Promise<void> }> {
  const { config, daemon } = run;
  const cwd = config.queue.projects[PROJECT]!;
  const account = config.accounts[0]!;
  await prepareAccountHome({ home: account.home, cwd });
  await sb.tmux.newSession({ name: FLOOR_SESSION, cwd, width: config.tmux.width, height: config.tmux.height });
  const classify = (capture: string): ReturnType<typeof classifyScreen> => classifyScreen(capture, { now: Date.now() });
  const driver = new AgentDriver({ tmux: sb.tmux, clock: systemClock, log: silentLogger(), classify, signals: daemon.hooks, pollMs: 50 });
  await waitFor("a shell in the floor session", async () => (isShell((await sb.tmux.paneInfo(FLOOR_SESSION)).currentCommand) ? true : undefined), 10_000, 50);
  const a = path.join(sb.dir, "fsync-a");
  const b = path.join(sb.dir, "fsync-b");
  await mkdir(a);
  await mkdir(b);
  await writeFile(path.join(a, "x.md"), "---\ntitle: x\n---\nx\n");
  let inA = true;
  const hookArgv = ctx.compiledCli ?? selfCommand();
  const hookRuns = { label: ctx.compiledCli ? "compiled" : "tsx", post: [] as number[], exit: [] as number[], cpu: [] as number[] };
  r.hookClient.push(hookRuns);

  const agentStart = async (): Promise<{ start: number; sessionStart: number | undefined; exit: number }> => {
    const sessionId = randomUUID();
    const launch = buildLaunchCommand({
      command: config.claude.command, args: config.claude.args, home: account.home, sessionId, settingsFile,
      env: agentEnv(config, account, process.env), runningAsRoot: process.getuid?.() === 0,
    });
    // The previous agent's last frame stays on screen and can read as an idle prompt to the
    // classifier until the new agent repaints: clear it first, so only the new agent can be seen idle.
    await sb.tmux.sendKey(FLOOR_SESSION, "C-u");
    await sb.tmux.sendText(FLOOR_SESSION, "clear");
    await sb.tmux.sendKey(FLOOR_SESSION, "Enter");
    await waitFor("a cleared screen", async () => (classify(await sb.tmux.capturePane(FLOOR_SESSION)).state === "idle" ? undefined : true), 5000, 20);
    await sb.tmux.sendText(FLOOR_SESSION, `cd ${shellQuote(cwd)} && ${toShellLine(launch)}`);
    await sb.tmux.sendKey(FLOOR_SESSION, "Enter");
    const t0 = now();
    const t1 = await waitFor("the floor agent's idle prompt", async () => {
      const [capture, pane] = await Promise.all([sb.tmux.capturePane(FLOOR_SESSION), sb.tmux.paneInfo(FLOOR_SESSION)]);
      const v = classify(capture);
      if (v.state === "dialog") throw new Error(`the floor agent stopped at a dialog (${v.detail})`);
      return v.state === "idle" && !v.inputText && !isShell(pane.currentCommand) ? now() : undefined;
    }, 60_000, 50);
    const t2 = now();
    await driver.exit(FLOOR_SESSION);
    const exit = now() - t2;
    const started = hooks.find((h) => h.id === sessionId && h.kind === "SessionStart");
    await hookProcessesDone(hooks, sessionId);
    return { start: t1 - t0, sessionStart: started && started.at - t0, exit };
  };

  ctx.say("  warm-up: one agent start-up, not counted");
  await agentStart();
  return {
    async round() {
      for (let i = 0; i < 5; i++) {
        let t0 = now();
        await sb.tmux.run(["display-message", "-p", "#{pid}"]);
        r.tmuxRoundTrip.push(now() - t0);
        const [from, to] = inA ? [a, b] : [b, a];
        inA = !inA;
        t0 = now();
        await moveDurably(path.join(from, "x.md"), path.join(to, "x.md"));
        r.renameFsync.push(now() - t0);
      }
      addHookRun(hookRuns, await runHookClient(ctx, hookArgv, daemon.url!, config.state_dir, hooks));
      const agent = await agentStart();
      r.agentStart.push(agent.start);
      if (agent.sessionStart !== undefined) r.agentSessionStartHook.push(agent.sessionStart);
      r.agentExit.push(agent.exit);
    },
  };
}

/**
 * Tasks dropped one at a time (Maildir: written aside, renamed into the inbox) while the pool's one
 * session is idle, at a random moment 0.3–1.3 s after it became so. Marks: the rename; the file in
 * active/ (inotify); the daemon's tmux calls (launch line, paste); UserPromptSubmit and Stop at the
 * daemon's /api/hook; the turn request at the mock; the file in done/ (inotify); the session idle again.
 */
async function prepareTasks(sb: ClaudeSandbox, run: RunningDaemon, hooks: HookMark[], r: LatencyResults): Promise<{ run(i: number): Promise<void>; close(): void }> {
  const { daemon, tmux } = run;
  const dir = (f: string): string => path.join(sb.queueRoot, PROJECT, f);
  const marks: { id?: string; claim?: number; staged?: number; done?: number } = {};
  const watchers = [
    watch(dir("active"), (_e, name) => {
      if (marks.id !== undefined && name === `${marks.id}.md`) marks.claim ??= now();
      if (marks.id !== undefined && name === `${marks.id}.md.to-done`) marks.staged ??= now();
    }),
    watch(dir("done"), (_e, name) => {
      if (marks.id !== undefined && name === `${marks.id}.md`) marks.done ??= now();
    }),
  ];
  const idle = (): boolean => sessionStates(daemon).some((s) => s.name === POOL_SESSION && s.state === "idle" && !s.task);
  const runId = randomUUID().slice(0, 8);
  return {
    close: () => watchers.forEach((w) => w.close()),
    async run(i: number) {
      await waitFor(`${POOL_SESSION} idle`, () => (idle() ? true : undefined), 60_000, 10);
      await sleep(300 + Math.random() * 1000);
      const id = `t${String(i).padStart(2, "0")}`;
      const token = `BENCH-${runId}-${i}`;
      Object.assign(marks, { id, claim: undefined, staged: undefined, done: undefined });
      const tmp = path.join(sb.queueRoot, PROJECT, `.${id}.md.tmp`);
      await writeFile(tmp, `---\ntitle: bench task ${i}\n---\n${token}: answer in one short sentence.\n`);
      const mock = sb.api.waitForRequest((q) => q.kind === "turn" && (q.lastUserText ?? "").includes(token), 120_000).then(() => now(), () => undefined);
      const hooksFrom = hooks.length;
      tmux.calls.length = 0;
      tmux.recording = true;
      const t0 = now();
      await rename(tmp, path.join(dir("inbox"), `${id}.md`));
      const outcome = await waitFor(`task ${id} filed`, async () => {
        if (marks.done !== undefined) return "done";
        return (await access(path.join(dir("failed"), `${id}.md`)).then(() => true, () => false)) ? "failed" : undefined;
      }, 120_000, 25);
      const tIdle = await waitFor(`${POOL_SESSION} idle after ${id}`, () => (idle() ? now() : undefined), 60_000, 5);
      tmux.recording = false;
      const agentId = hooks.slice(hooksFrom).find((h) => h.kind === "UserPromptSubmit")?.id;
      if (agentId) await hookProcessesDone(hooks, agentId);
      if (outcome === "failed") {
        r.failures.push(`${id}: filed under failed/ (see the sandbox's latency.log)`);
        return;
      }
      const seen = hooks.slice(hooksFrom);
      const ups = seen.find((h) => h.kind === "UserPromptSubmit");
      const stop = ups && seen.find((h) => h.kind === "Stop" && h.id === ups.id);
      const calls = tmux.calls;
      const typed = calls.find((c) => c.op === "send-text" && c.text?.startsWith("cd "));
      const entered = typed && calls.find((c) => c.op === "send-key" && c.text === "Enter" && c.start >= typed.end);
      const pasted = entered && calls.find((c) => c.op === "paste" && c.start >= entered.end);
      const submitted = pasted && calls.find((c) => c.op === "send-key" && c.text === "Enter" && c.start >= pasted.end);
      if (!ups || !stop || !entered || !pasted || !submitted || marks.claim === undefined || marks.done === undefined) {
        r.failures.push(`${id}: incomplete marks (hooks: ${seen.map((h) => h.kind).join(",")})`);
        return;
      }
      const tMock = await mock;
      r.dispatch.total.push(ups.at - t0);
      if (tMock !== undefined) r.dispatch.toMock.push(tMock - t0);
      r.dispatch.claim.push(marks.claim - t0);
      r.dispatch.toLaunch.push(entered.end - marks.claim);
      r.dispatch.agentStart.push(pasted.start - entered.end);
      r.dispatch.submit.push(ups.at - pasted.start);
      r.dispatch.pasteShown.push(submitted.start - pasted.start);
      r.dispatch.enterToHook.push(ups.at - submitted.end);
      const ss = seen.find((h) => h.kind === "SessionStart" && h.id === ups.id);
      if (ss) {
        r.dispatch.sessionStart.push(ss.at - entered.end);
        r.dispatch.enterToSessionStart.push(ss.at - submitted.end);
        r.dispatch.sessionStartToPrompt.push(ups.at - ss.at);
      }
      r.dispatch.tmuxExecs.push(execsBetween(calls, t0, ups.at));
      r.completion.push(marks.done - stop.at);
      if (marks.staged !== undefined) r.completionStaged.push(marks.staged - stop.at);
      r.completionTmuxExecs.push(execsBetween(calls, stop.at, marks.done));
      r.recycle.push(tIdle - marks.done);
    },
  };
}

/**
 * Waits until an agent's last hook (SessionEnd) has reached the daemon, then a little longer for
 * the hook process to exit: each hook run costs about 0.3 s of CPU, and one still running while the
 * next start-up is timed would weigh on that start-up only (2 cores).
 */
async function hookProcessesDone(hooks: HookMark[], claudeSessionId: string): Promise<void> {
  await waitFor("the agent's SessionEnd hook", () => (hooks.some((h) => h.id === claudeSessionId && h.kind === "SessionEnd") ? true : undefined), 5000, 20).catch(() => undefined);
  await sleep(300);
}

function execsBetween(calls: readonly TmuxCall[], from: number, to: number): number {
  return calls.filter((c) => c.start >= from && c.start <= to).reduce((n, c) => n + (c.op === "paste" ? 2 : 1), 0);
}
