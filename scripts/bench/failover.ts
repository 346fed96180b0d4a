// Detection latency and swap duration (contract §6) with the real CLI against the mock model API: a pool
// of N agents all at work, one of them hits the active account's usage limit, and the daemon swaps
// to the next account — stopping the pool, flipping the link, relaunching the operator's dedicated
// sessions with --resume and continuing every interrupted task there. Each round swaps once (R + 1
// accounts for R rounds), then measures its floor in the same sandbox: as many agents as the swap
// brings back (pool + dedicated) ended, then started, side by side, by the daemon's own driver.
import { randomUUID } from "node:crypto";
import { mkdir, readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { buildLaunchCommand, prepareAccountHome, toShellLine } from "../../src/claude/launch.js";
import { classifyScreen } from "../../src/claude/screen.js";
import { HOOK_SETTINGS_FILE, writeDaemonHookSettings } from "../../src/daemon/hook-settings.js";
import type { DaemonStatus } from "../../src/daemon/status-view.js";
import { agentEnv } from "../../src/daemon/work-wiring.js";
import { AgentDriver } from "../../src/dispatch/agent-driver.js";
import { systemClock } from "../../src/lib/clock.js";
import { silentLogger } from "../../src/lib/logger.js";
import { openSandbox, startDaemon, type BenchContext } from "./harness.js";
import { waitFor } from "./support.js";

export interface FailoverResults {
  /** Pool sessions at work when the limit hits, and dedicated sessions (an operator agent in each). */
  pool: number;
  dedicated: number;
  /** What the agents' hooks ran. */
  hookMode: string;
  /** quota.poll_interval and reactivate_cooldown of the run (production poll; cooldown shortened so rounds can follow each other). */
  quotaPollMs: number;
  /** watcher.poll_interval: how often the work loop looks at each working session's screen. */
  supervisePollMs: number;
  cooldownMs: number;
  /** Whether the agents' hooks reached the daemon (off: screens and transcripts only). */
  hooks: boolean;
  /** The mock answered the usage limit → the quota monitor's swap decision (log), whatever saw it. */
  limitToDecision: number[];
  /** What the decision came from, per round (hook, screen, transcript). */
  sources: string[];
  /** The mock answered the usage limit → StopFailure (rate_limit) at the daemon. */
  limitToHook: number[];
  /** StopFailure at the daemon → the quota monitor's swap decision (log). */
  hookToDecision: number[];
  /** Swap decided → its journal at `done` (every step, resumes included). */
  swap: number[];
  /** Time spent in each step of the journal, in order. */
  steps: { step: string; ms: number[] }[];
  /** Swap decided → the first / the last interrupted task's "continue" at the mock, on the new account. */
  firstContinue: number[];
  lastContinue: number[];
  /** Swap decided → the last dedicated session's agent back (SessionStart at the daemon). */
  dedicatedBack: number[];
  /** Floors, each round: pool + dedicated agents ended side by side (Ctrl-C ×2 → shell), then started (→ idle prompt). */
  floorExit: number[];
  floorStart: number[];
  failures: string[];
}

const PROJECT = "swap";
const LABEL = "bswap";
const OPERATOR = "bswap-operator-";

interface LogLine {
  /** ISO time, parsed to epoch ms below. */
  time: number;
  msg: string;
  decision?: { kind: string; source?: string };
  step?: string;
}

export async function runFailover(ctx: BenchContext): Promise<FailoverResults> {
  const n = ctx.opts.swapPool;
  const operators = Array.from({ length: ctx.opts.swapDedicated }, (_, j) => `${OPERATOR}${j + 1}`);
  const rounds = ctx.opts.swaps;
  const sb = await openSandbox(ctx, LABEL, [PROJECT], { min: n, max: n });
  const accounts = Array.from({ length: rounds + 1 }, (_, i) => `acct${i + 1}`);
  const homeOf = (a: string): string => path.join(sb.home, `.claude-${a}`);
  for (const a of accounts) await mkdir(homeOf(a), { recursive: true });
  const operatorCwd = path.join(sb.dir, "work", "operator");
  await mkdir(operatorCwd, { recursive: true });
  const run = await startDaemon(ctx, sb, "failover", (c) => {
    c.accounts = accounts.map((name) => ({ name, home: homeOf(name), env: { CLAUDE_CODE_OAUTH_TOKEN: `token-${name}` }, env_from: {} }));
    c.pool.dedicated = operators.map((name) => ({ name, cwd: operatorCwd }));
    c.quota.usage_api = false;
    c.quota.reactivate_cooldown = 1000;
  });
  const { daemon, config } = run;
  const settingsFile = path.join(config.state_dir, HOOK_SETTINGS_FILE);
  let hookMode = "tsx";
  if (!ctx.opts.swapHooks) {
    // Every hook runs `true …`: Claude Code is content, the daemon hears nothing. The rest of the file is the daemon's.
    await writeDaemonHookSettings(config.state_dir, daemon.url!, ["true"]);
    hookMode = "off (each hook runs `true`: the daemon sees screens and transcripts only)";
  } else if (ctx.compiledCli) {
    await writeDaemonHookSettings(config.state_dir, daemon.url!, ctx.compiledCli);
    hookMode = "compiled (node dist/main.js hook)";
  }
  const hooks: { kind: string; id: string; at: number; error?: string }[] = [];
  daemon.hooks.subscribe((e) => hooks.push({ kind: e.kind, id: e.sessionId, at: Date.now(), ...("error" in e && e.error ? { error: e.error } : {}) }));
  const r: FailoverResults = {
    pool: n, dedicated: operators.length, hookMode, quotaPollMs: config.quota.poll_interval, supervisePollMs: config.watcher.poll_interval, cooldownMs: config.quota.reactivate_cooldown,
    hooks: ctx.opts.swapHooks, limitToDecision: [], sources: [], limitToHook: [], hookToDecision: [], swap: [], steps: [], firstContinue: [], lastContinue: [], dedicatedBack: [], floorExit: [], floorStart: [], failures: [],
  };
  const status = (): DaemonStatus => daemon.statusView();
  await waitFor(`${n} pool sessions`, () => (status().sessions.filter((s) => s.kind === "pool").length === n ? true : undefined), 30_000, 100);

  // The operator's agents in the dedicated sessions, on the first account, as `claude --session-id` would start them.
  const operatorIds = operators.map(() => randomUUID());
  await prepareAccountHome({ home: homeOf(accounts[0]!), cwd: operatorCwd });
  for (const [j, session] of operators.entries()) {
    const operatorLine = toShellLine(buildLaunchCommand({
      command: config.claude.command, args: config.claude.args, home: homeOf(accounts[0]!), sessionId: operatorIds[j]!, settingsFile,
      env: agentEnv(config, config.accounts[0]!, process.env), runningAsRoot: process.getuid?.() === 0,
    }));
    await sb.tmux.sendText(session, `cd ${operatorCwd} && ${operatorLine}`);
    await sb.tmux.sendKey(session, "Enter");
  }
  const classify = (capture: string): ReturnType<typeof classifyScreen> => classifyScreen(capture, { now: Date.now() });
  const started = ctx.opts.swapHooks
    ? async (): Promise<true | undefined> => (operatorIds.every((id) => hooks.some((h) => h.id === id && h.kind === "SessionStart")) ? true : undefined)
    : async (): Promise<true | undefined> => ((await Promise.all(operators.map(async (o) => classify(await sb.tmux.capturePane(o)).state))).every((x) => x === "idle") ? true : undefined);
  await waitFor("the operators' agents", started, 60_000, 50);

  const driver = new AgentDriver({ tmux: sb.tmux, clock: systemClock, log: silentLogger(), classify, signals: daemon.hooks, pollMs: 50 });
  const floorSessions = Array.from({ length: n + operators.length }, (_, j) => `flr-${j + 1}`);
  for (const s of floorSessions) await sb.tmux.newSession({ name: s, cwd: operatorCwd, width: config.tmux.width, height: config.tmux.height });
  const logFile = path.join(sb.dir, "failover.log");
  const stepTimes = new Map<string, number[]>();

  for (let i = 0; i < rounds; i++) {
    const from = accounts[i]!;
    const to = accounts[i + 1]!;
    ctx.say(`  round ${i + 1}/${rounds}: ${n} agents at work on ${from}, one hits its limit → ${to}`);
    const roundStart = Date.now();
    sb.api.script({ token: `token-${from}`, prompt: `BENCH-LIMIT-${i}`, times: 1, respond: { kind: "usage-limit", claim: "five_hour", resetAt: Math.floor(Date.now() / 1000) + 3 * 3600 } });
    // n − 1 tasks whose answers take long: all busy when the limit hits, so all are interrupted.
    for (let j = 1; j < n; j++) await sb.drop(PROJECT, `r${i}-t${j}.md`, `BENCH-R${i}-T${j} MOCK_DELAY=120000 take your time\n`);
    await waitFor(`${n - 1} tasks at the model`, () => {
      const seen = new Set(sb.api.requests.filter((q) => q.receivedAt >= roundStart && q.kind === "turn").map((q) => /BENCH-R\d+-T\d+/.exec(q.lastUserText ?? "")?.[0]).filter(Boolean));
      return seen.size >= n - 1 ? true : undefined;
    }, 120_000, 50);
    await sb.drop(PROJECT, `r${i}-t0.md`, `BENCH-LIMIT-${i} the task that meets the wall\n`);
    const limitReq = await sb.api.waitForRequest((q) => q.token === `token-${from}` && (q.lastUserText ?? "").includes(`BENCH-LIMIT-${i}`), 120_000);
    await waitFor(`the swap to ${to}`, () => (status().active_account === to && status().swap_state === "idle" ? true : undefined), 120_000, 50);
    await waitFor(`the ${n} tasks of round ${i + 1} in done/`, async () => ((await sb.files(PROJECT, "done")).filter((f) => f.startsWith(`r${i}-`)).length === n ? true : undefined), 180_000, 100);

    const failure = hooks.find((h) => h.kind === "StopFailure" && h.error === "rate_limit" && h.at >= limitReq.receivedAt);
    const lines = (await readFile(logFile, "utf8")).split("\n").filter(Boolean).map((l) => {
      const line = JSON.parse(l) as Omit<LogLine, "time"> & { time: string };
      return { ...line, time: Date.parse(line.time) };
    }).filter((l) => l.time >= roundStart);
    const decision = lines.find((l) => l.msg === "quota decision" && l.decision?.kind === "swap");
    const decided = decision?.time;
    // A step is logged again each time the journal is persisted within it (recreating: once per
    // session brought back): its time runs from its first line to the next step's first line.
    const steps = lines.filter((l) => l.msg.startsWith("swap step: ") && l.step !== undefined).filter((l, k, all) => k === 0 || all[k - 1]!.step !== l.step);
    const done = steps.find((l) => l.step === "done")?.time;
    if ((r.hooks && !failure) || decided === undefined || done === undefined) {
      r.failures.push(`round ${i + 1}: ${decided === undefined ? "no swap decision in the log" : done === undefined ? "no swap done in the log" : "no StopFailure rate_limit hook"}`);
      continue;
    }
    r.limitToDecision.push(decided - limitReq.receivedAt);
    r.sources.push(decision?.decision?.source ?? "?");
    if (failure) {
      r.limitToHook.push(failure.at - limitReq.receivedAt);
      r.hookToDecision.push(decided - failure.at);
    }
    r.swap.push(done - decided);
    for (let k = 0; k + 1 < steps.length; k++) {
      const name = steps[k]!.step!;
      stepTimes.set(name, [...(stepTimes.get(name) ?? []), steps[k + 1]!.time - steps[k]!.time]);
    }
    const continues = sb.api.requests.filter((q) => q.token === `token-${to}` && q.kind === "turn" && q.lastUserText === "continue" && q.receivedAt >= decided).map((q) => q.receivedAt).sort((a, b) => a - b);
    if (continues.length < n) r.failures.push(`round ${i + 1}: ${continues.length} of ${n} tasks continued on ${to}`);
    if (continues.length > 0) {
      r.firstContinue.push(continues[0]! - decided);
      r.lastContinue.push(continues.at(-1)! - decided);
    }
    const back = operatorIds.map((id) => hooks.find((h) => h.id === id && h.kind === "SessionStart" && h.at >= decided)?.at);
    if (back.every((at) => at !== undefined)) r.dedicatedBack.push(Math.max(...back) - decided);
    else if (r.hooks) r.failures.push(`round ${i + 1}: ${back.filter((at) => at === undefined).length} operator session(s) not brought back`);
    for (const f of (await sb.files(PROJECT, "done")).filter((x) => x.startsWith(`r${i}-`))) {
      const text = await sb.read(PROJECT, "done", f);
      if (!/^account: /m.test(text) || !text.includes(`account: ${to}`) || !/^attempts: 1$/m.test(text)) r.failures.push(`round ${i + 1}: ${f} did not finish on ${to} in one attempt`);
    }

    // The floor, in the same sandbox: as many agents on the new account started side by side, then ended.
    const account = config.accounts.find((a) => a.name === to)!;
    await prepareAccountHome({ home: account.home, cwd: operatorCwd });
    let t0 = Date.now();
    await Promise.all(floorSessions.map(async (s) => {
      const launch = buildLaunchCommand({
        command: config.claude.command, args: config.claude.args, home: account.home, sessionId: randomUUID(), settingsFile,
        env: agentEnv(config, account, process.env), runningAsRoot: process.getuid?.() === 0,
      });
      await driver.launch(s, operatorCwd, launch);
    }));
    r.floorStart.push(Date.now() - t0);
    t0 = Date.now();
    await Promise.all(floorSessions.map((s) => driver.exit(s)));
    r.floorExit.push(Date.now() - t0);
  }
  r.steps = [...stepTimes].map(([step, ms]) => ({ step, ms }));
  const left = (await readdir(path.join(sb.queueRoot, PROJECT, "failed")).catch(() => [] as string[])).filter((f) => f.endsWith(".md"));
  if (left.length > 0) r.failures.push(`tasks in failed/: ${left.join(", ")}`);
  await run.stop();
  return r;
}
