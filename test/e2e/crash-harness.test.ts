/**
 * Issue 4's crash harness (contract Q1, Q4): `claude-failover run` as a real child process feeds tasks from
 * two projects to a pool of three real Claude Code CLIs (against the mock model API on loopback, in
 * tmux on a private socket, everything in a temp sandbox) and is killed with SIGKILL over and over:
 * at every named crash point (CRASH_POINTS, first hit, and a later hit for some), and at a few random
 * instants. After each kill it is started again; tmux and the agents outlive it, so each start has to
 * recover the queue and re-adopt or re-queue the work in flight. The last run goes without a crash
 * point and must drain the queue. Then every task is in done/ or failed/ exactly once, and no prompt
 * reached the model more often than its footer says it was tried.
 *
 * "Tried" is exact: each task's prompt carries a unique token, and the mock's request log counts the
 * turn requests that carry it; that count may exceed 1 only through attempts the footer records.
 *
 * Random choices (kill instants, where they fall in the plan, the mix of tasks) come from one seed,
 * printed as a diagnostic; CRASH_HARNESS_SEED=<n> replays a plan (timings still vary run to run).
 * CRASH_HARNESS_KEEP=1 keeps the sandbox (daemon logs, queue, state, mock-requests.json) for a post-mortem.
 */
import { after, before, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { access, constants, readdir, readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import { CRASH_POINTS, type CrashPoint } from "../../src/lib/crash-points.js";
import { parseFooter } from "../../src/queue/footer.js";
import { submitTask } from "../../src/queue/submit.js";
import { CLAUDE_BIN, makeClaudeSandbox, waitForProcessesGone, type ClaudeSandbox } from "../support/claude-sandbox.js";
import { cleanEnv, startDaemonProcess, type DaemonExit, type DaemonProcess } from "../support/daemon-process.js";
import { auditQueue, deliveriesOf, leftoverState, readEvents, type AuditedTask } from "../support/queue-audit.js";
import { removeSocketFiles } from "../support/tmux-server.js";
import { operatorGit, useWorktreeProject, type Git } from "../support/git-project.js";
import { until } from "../support/until.js";

const PROJECTS = ["alpha", "beta"] as const;
const LABEL = "crash";
/** makeClaudeSandbox names the pool `<label>-<n>`, n from 1. */
const POOL_NAMES = [1, 2, 3].map((n) => `${LABEL}-${n}`);
const KEEPER = "keeper-outside-the-pool";

// Budgets: the whole file must stay well under the runner's 300 s per test on a 2-core machine.
const OVERALL_MS = 240_000;
const CRASH_WITHIN_MS = 45_000;
const DRAIN_WITHIN_MS = 90_000;
const STOP_WITHIN_MS = 20_000;
const MAX_TASKS = 40;
/** Later hits: the n-th pass of a point in one run (the first hit of every point is in the plan too). */
// Lean: the two worktree points (issue 12) took the place of a later paste hit and a random kill.
const LATER_HITS: [CrashPoint, number][] = [["after-claim", 3], ["after-submit", 2], ["finish-staged", 2]];
const RANDOM_KILLS = 3;
/** Points passed while handing a task over: the n-th hit needs n waiting tasks. */
const HANDOVER_POINTS = new Set<CrashPoint>(["after-claim", "after-record", "after-launch", "after-paste", "after-submit", "worktree-created"]);
/** Points only a task of the worktree project (beta: isolation worktree, a git repository) passes. */
const WORKTREE_POINTS = new Set<CrashPoint>(["worktree-created", "worktree-committed"]);

const SEED = parseSeed(process.env.CRASH_HARNESS_SEED);
const rand = mulberry32(SEED);

function parseSeed(value: string | undefined): number {
  if (value === undefined || value === "") return randomInt(1, 2 ** 31);
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`CRASH_HARNESS_SEED: expected a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

/** A small seeded generator (mulberry32): the same seed gives the same plan. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Round = { kind: "crash"; point: CrashPoint; nth: number } | { kind: "random"; delayMs: number };

function buildPlan(): Round[] {
  const rounds: Round[] = [
    ...CRASH_POINTS.map((point): Round => ({ kind: "crash", point, nth: 1 })),
    ...LATER_HITS.map(([point, nth]): Round => ({ kind: "crash", point, nth })),
  ];
  for (let i = 0; i < RANDOM_KILLS; i++) {
    rounds.splice(1 + Math.floor(rand() * rounds.length), 0, { kind: "random", delayMs: 200 + Math.floor(rand() * 2801) });
  }
  return rounds;
}

const label = (r: Round): string =>
  r.kind === "random" ? `random SIGKILL ${r.delayMs} ms after spawn` : `SIGKILL at ${r.point}${r.nth > 1 ? ` (hit ${r.nth})` : ""}`;

type TaskKind = "plain" | "slow" | "multiline" | "fail-once" | "malformed";

interface RunRecord {
  label: string;
  pid: number;
  aliveMs: number;
  exit: DaemonExit;
  killedByHarness: boolean;
  log: Record<string, unknown>[];
}

let sb: ClaudeSandbox;
let stateDir: string;
let current: DaemonProcess | undefined;
const tasks: (AuditedTask & { kind: TaskKind })[] = [];
const runs: RunRecord[] = [];
const nonce = randomBytes(3).toString("hex");

before(async () => {
  await access(CLAUDE_BIN, constants.X_OK).catch((err: unknown) => {
    throw new Error(`the Claude Code binary is missing at ${CLAUDE_BIN} (the test runner installs it: node scripts/run-tests.mjs): ${String(err)}`);
  });
  sb = await makeClaudeSandbox({
    label: LABEL, projects: [...PROJECTS], pool: { min: 3, max: 3 },
    // A fixed port, as in production: agents launched by one run post their hooks to the next one.
    config: { http: { listen: `127.0.0.1:${await freePort()}` } },
  });
  stateDir = path.join(sb.dir, "state");
  // beta is a git repository whose tasks each run in their own worktree (issue 12).
  await useWorktreeProject({ git, configPath: sb.configPath, project: "beta", repo: path.join(sb.dir, "work", "beta"), readme: "beta\n" });
  // The harness starts the tmux server itself, with the sandbox's environment and no crash point in
  // it, so no agent inherits one; the keeper session (outside the pool range) keeps the server up.
  await promisify(execFile)("tmux", ["-L", sb.socket, "-f", "/dev/null", "new-session", "-d", "-s", KEEPER, "-x", "80", "-y", "20"], { env: cleanEnv(sb.env), timeout: 10_000 });
  const initial: [TaskKind, (typeof PROJECTS)[number]][] = [
    ["plain", "alpha"], ["slow", "alpha"], ["multiline", "alpha"], ["fail-once", "alpha"],
    ["plain", "beta"], ["slow", "beta"], ["multiline", "beta"], ["malformed", "beta"],
  ];
  for (const [kind, project] of initial) await addTask(kind, project);
});

after(async () => {
  if (current?.exit() === undefined) {
    current?.kill("SIGKILL");
    await current?.exited;
  }
  if (!sb) return;
  if (process.env.CRASH_HARNESS_KEEP === "1") {
    // For a post-mortem: the mock's request log beside the daemon logs, queue and state.
    await sb.tmux.killServer().catch(() => undefined);
    await waitForProcessesGone(sb.dir, 20_000);
    await writeFile(path.join(sb.dir, "mock-requests.json"), JSON.stringify(sb.api.requests.map((r) => ({
      seq: r.seq, kind: r.kind, token: r.token, status: r.status, behaviour: r.behaviour, session: r.headers["x-claude-code-session-id"], userTexts: r.userTexts,
    })), null, 1));
    await sb.api.close();
    process.stderr.write(`crash harness: sandbox kept at ${sb.dir}\n`);
  } else {
    // Kills the private tmux server, waits for every process started from the sandbox (the agents'
    // SessionEnd hooks run after the kill), closes the mock and removes the folder.
    await sb.close();
  }
  await removeSocketFiles(sb.socket);
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Submits one task the way an operator does (submitTask: a dot-file in the inbox, then link). */
async function addTask(kind: TaskKind, project: (typeof PROJECTS)[number] = PROJECTS[tasks.length % 2]!): Promise<void> {
  const n = String(tasks.length + 1).padStart(3, "0");
  const id = `task-${n}-${kind}`;
  const marker = `CRASHMARK-${n}-${nonce}`;
  const head = (extra = ""): string => `---\ntitle: crash harness ${id}\n${extra}---\n`;
  const text = {
    plain: `${head()}Answer in one line. Token ${marker}.\n`,
    slow: `${head()}Think for a moment first. Token ${marker}. MOCK_DELAY=${1500 + Math.floor(rand() * 2500)}\n`,
    multiline: `${head()}Read these lines:\n1. the first, token ${marker}\n2. the second\n3. the third\nThen answer with a summary.\n`,
    "fail-once": `${head("priority: high\n")}The first try of this one meets a server error. Token ${marker}.\n`,
    malformed: `---\ntitle: [unclosed\npriority: urgent\n---\nThis file cannot be a task. Token ${marker}.\n`,
  }[kind];
  // The first delivery gets a 500 (x-should-retry: false): the daemon must retry it as attempt 2.
  if (kind === "fail-once") sb.api.script({ prompt: marker, times: 1, respond: { kind: "server-error", message: "Internal server error (crash harness)" } });
  const got = await submitTask(sb.queueRoot, project, text, { sourceName: `${id}.md` });
  assert.equal(got, id);
  tasks.push({ project, id, marker, text, malformed: kind === "malformed", kind });
}

const git: Git = (cwd, ...args) => operatorGit(cleanEnv(sb.env))(cwd, ...args);

async function waitingCount(): Promise<number> {
  let n = 0;
  for (const p of PROJECTS) n += (await readdir(path.join(sb.queueRoot, p, "inbox")).catch(() => [] as string[])).filter((f) => !f.startsWith(".") && f.endsWith(".md")).length;
  return n;
}

/** Keeps enough tasks waiting for the next crash point to be reached. */
async function topUp(round: Round): Promise<void> {
  const need = round.kind === "crash" && HANDOVER_POINTS.has(round.point) ? Math.max(2, round.nth) : 2;
  if (round.kind === "crash" && round.point === "after-requeue" && tasks.length < MAX_TASKS) await addTask("fail-once");
  if (round.kind === "crash" && WORKTREE_POINTS.has(round.point) && tasks.length < MAX_TASKS) await addTask("plain", "beta");
  for (let waiting = await waitingCount(); waiting < need && tasks.length < MAX_TASKS; waiting++) {
    await addTask((["plain", "slow", "multiline"] as const)[Math.floor(rand() * 3)]!);
  }
}

async function sessionNames(): Promise<string[]> {
  return (await sb.tmux.listSessions()).map((s) => s.name).sort();
}

function spawnRun(crashAt: string | undefined): DaemonProcess {
  current = startDaemonProcess({ configPath: sb.configPath, env: sb.env, logFile: path.join(sb.dir, `daemon-${runs.length + 1}.log`), ...(crashAt ? { crashAt } : {}) });
  return current;
}

/** The exit, or undefined when the process still runs after `ms`. */
async function exitWithin(d: DaemonProcess, ms: number): Promise<DaemonExit | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), Math.max(0, ms))));
  try {
    return await Promise.race([d.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function tail(d: DaemonProcess, n = 15): Promise<string> {
  return (await d.logLines()).slice(-n).map((l) => JSON.stringify(l).slice(0, 400)).join("\n");
}

const started = Date.now();
const remaining = (): number => started + OVERALL_MS - Date.now();

/** One run that must end in SIGKILL: at a crash point (the daemon kills itself) or by the harness. */
async function crashRun(t: TestContext, round: Round): Promise<void> {
  await topUp(round);
  const poolBefore = (await sessionNames()).filter((s) => POOL_NAMES.includes(s));
  const d = spawnRun(round.kind === "crash" ? `${round.point}:${round.nth}` : undefined);
  let killedByHarness = false;
  let exit: DaemonExit | undefined;
  if (round.kind === "random") {
    exit = await exitWithin(d, Math.min(round.delayMs, remaining()));
    assert.equal(exit, undefined, `the daemon ended on its own (${JSON.stringify(exit)}) before the random kill (seed ${SEED}); log:\n${await tail(d)}`);
    killedByHarness = d.kill("SIGKILL");
    exit = await d.exited;
  } else {
    exit = await exitWithin(d, Math.min(CRASH_WITHIN_MS, remaining()));
    if (exit === undefined) {
      d.kill("SIGKILL");
      await d.exited;
      assert.fail(`crash point ${round.point}:${round.nth} was never reached within ${CRASH_WITHIN_MS} ms (seed ${SEED}); log:\n${await tail(d)}`);
    }
  }
  const aliveMs = Date.now() - d.startedAt;
  runs.push({ label: label(round), pid: d.pid, aliveMs, exit, killedByHarness, log: await d.logLines() });
  const by = killedByHarness ? "sent by the harness" : "sent by itself";
  t.diagnostic(`pid ${d.pid} died by ${exit.signal ? `${exit.signal} (${by})` : `exit ${exit.code}`} after ${aliveMs} ms; ${await waitingCount()} waiting, ${tasks.length} tasks so far`);
  assert.equal(exit.signal, "SIGKILL", `${label(round)}: expected death by SIGKILL, got ${JSON.stringify(exit)} (seed ${SEED}); log:\n${await tail(d)}`);
  // tmux outlives the daemon: every pool session there before the run is still there after its death.
  const afterDeath = await sessionNames();
  assert.deepEqual(poolBefore.filter((s) => !afterDeath.includes(s)), [], `pool sessions vanished with the daemon (seed ${SEED})`);
}

/** The last run: no crash point; it must drain the queue, then stop cleanly on SIGTERM. */
async function finalRun(t: TestContext): Promise<void> {
  const d = spawnRun(undefined);
  const within = Math.min(DRAIN_WITHIN_MS, Math.max(remaining(), 10_000));
  try {
    await until("the queue drained", async () => {
      if (d.exit() !== undefined) assert.fail(`the last run ended early: ${JSON.stringify(d.exit())}`);
      return (await drainState()) === "" ? true : undefined;
    }, within);
  } catch (err) {
    const left = await drainState();
    d.kill("SIGKILL");
    await d.exited;
    assert.fail(`${err instanceof Error ? err.message : String(err)} (seed ${SEED}): ${left}; log:\n${await tail(d, 30)}`);
  }
  t.diagnostic(`queue drained ${Date.now() - d.startedAt} ms after the last start`);
  d.kill("SIGTERM");
  const exit = await exitWithin(d, STOP_WITHIN_MS);
  runs.push({ label: "final run, SIGTERM", pid: d.pid, aliveMs: Date.now() - d.startedAt, exit: exit ?? { code: null, signal: null }, killedByHarness: false, log: await d.logLines() });
  if (exit === undefined) {
    d.kill("SIGKILL");
    await d.exited;
  }
  assert.deepEqual(exit, { code: 0, signal: null }, `the daemon must stop cleanly on SIGTERM within ${STOP_WITHIN_MS} ms; log:\n${await tail(d)}`);
}

/** "" once every task is filed, inbox/ and active/ are empty and state.json holds no task; else what is left. */
async function drainState(): Promise<string> {
  const left: string[] = [];
  let filed = 0;
  for (const p of PROJECTS) {
    for (const f of ["inbox", "active"]) {
      const names = await readdir(path.join(sb.queueRoot, p, f)).catch(() => [] as string[]);
      if (names.length > 0) left.push(`${p}/${f}: ${names.join(" ")}`);
    }
    for (const f of ["done", "failed"]) filed += (await readdir(path.join(sb.queueRoot, p, f)).catch(() => [] as string[])).length;
  }
  if (filed < tasks.length) left.push(`${filed}/${tasks.length} filed`);
  const records = await leftoverState(stateDir).catch(() => ({ tasks: ["(state.json unreadable)"], attempts: [] }));
  if (records.tasks.length > 0) left.push(`state.json tasks: ${records.tasks.join(" ")}`);
  return left.join("; ");
}

const logged = (msg: string): Record<string, unknown>[] => runs.flatMap((r) => r.log.filter((l) => l.msg === msg));

test("crash harness: SIGKILL at every crash point and at random instants; each task filed once, no prompt run twice unseen", { timeout: 295_000 }, async (t) => {
  const plan = buildPlan();
  t.diagnostic(`seed ${SEED} (CRASH_HARNESS_SEED=${SEED} replays it); plan: ${plan.map(label).join(" → ")}`);
  for (const round of plan) {
    if (remaining() <= 0) assert.fail(`out of time before ${label(round)} (seed ${SEED})`);
    await t.test(label(round), (st) => crashRun(st, round));
  }
  await t.test("last run without a crash point drains the queue and stops on SIGTERM", (st) => finalRun(st));

  await t.test("every task is filed exactly once, intact, and never ran more often than its attempts", async (st) => {
    const audit = await auditQueue(sb.queueRoot, tasks, sb.api.requests);
    const events = await readEvents(stateDir);
    // events.jsonl is a record, not the truth: lines a killed run had not written yet are lost.
    const requeues = (key: string): string[] =>
      events.filter((e) => e.type === "task_requeued" && `${String(e.project)}/${String(e.task)}` === key).map((e) => String(e.reason));
    for (const f of audit.filed) {
      if (f.attempts > 1 || f.deliveries.length !== 1) {
        st.diagnostic(`${f.task.project}/${f.task.id}: ${f.folder}, attempts ${f.attempts}, ${f.deliveries.length} deliveries, task_requeued events: ${JSON.stringify(requeues(`${f.task.project}/${f.task.id}`))}${f.footer.reason ? `, reason: ${f.footer.reason}` : ""}`);
      }
    }
    const counts = { done: audit.filed.filter((f) => f.folder === "done").length, failed: audit.filed.filter((f) => f.folder === "failed").length };
    st.diagnostic(`${tasks.length} tasks: ${counts.done} done, ${counts.failed} failed; ${sb.api.requests.filter((r) => r.kind === "turn").length} turn requests`);
    assert.deepEqual(audit.problems, [], `queue audit (seed ${SEED}):\n${audit.problems.join("\n")}`);
    for (const x of tasks.filter((x) => x.kind === "fail-once")) {
      assert.ok(deliveriesOf(sb.api.requests, x.marker).length >= 2, `${x.id} was retried after its server error (seed ${SEED})`);
    }
  });

  await t.test("no task is charged an attempt its prompt never got (a hand-over cut short is free)", async () => {
    // Here every counted attempt delivers: sessions never die and the only scripted failure is a delivered 500.
    const audit = await auditQueue(sb.queueRoot, tasks, sb.api.requests);
    const overcharged = audit.filed.filter((f) => f.folder === "done" && f.attempts > f.deliveries.length)
      .map((f) => `${f.task.project}/${f.task.id}: attempts ${f.attempts}, ${f.deliveries.length} deliveries`);
    assert.deepEqual(overcharged, [], `tasks charged for attempts that never reached the model (seed ${SEED})`);
  });

  await t.test("no valid task is given up: no session dies here, so Q4 never calls for it", async () => {
    const audit = await auditQueue(sb.queueRoot, tasks, sb.api.requests);
    const failedValid = audit.filed.filter((f) => f.folder === "failed" && !f.task.malformed).map((f) => `${f.task.id} (attempts ${f.attempts}): ${f.footer.reason ?? ""}`);
    assert.deepEqual(failedValid, [], `tasks given up (seed ${SEED})`);
  });

  await t.test("worktrees: beta's checkout untouched, one branch per filed task run, no worktree left", async () => {
    const repo = path.join(sb.dir, "work", "beta");
    assert.equal((await git(repo, "branch", "--show-current")).trim(), "main");
    assert.equal((await git(repo, "status", "--porcelain", "--untracked-files=all")).trim(), "");
    const listed = async (): Promise<string[]> => (await git(repo, "worktree", "list", "--porcelain")).split("\n").filter((l) => l.startsWith("worktree "));
    assert.deepEqual(await listed(), [`worktree ${repo}`], `worktrees left (seed ${SEED})`);
    assert.deepEqual(await readdir(path.join(stateDir, "worktrees", "beta")).catch(() => []), [], `folders left under state/worktrees (seed ${SEED})`);
    const audit = await auditQueue(sb.queueRoot, tasks, sb.api.requests);
    for (const f of audit.filed.filter((x) => x.task.project === "beta" && x.folder === "done")) {
      const footer = parseFooter(await readFile(path.join(sb.queueRoot, "beta", "done", `${f.task.id}.md`), "utf8"))!;
      assert.match(footer.branch ?? "", new RegExp(`^cf/beta/${f.task.id}(-\\d+)?$`), `${f.task.id} names its branch (seed ${SEED})`);
      assert.equal((await git(repo, "rev-parse", footer.branch!)).trim(), footer.commit, `${f.task.id}: the footer's commit is its branch head`);
    }
  });

  await t.test("state.json keeps no record of finished tasks", async () => {
    assert.deepEqual(await leftoverState(stateDir), { tasks: [], attempts: [] }, `leftover records in ${stateDir}/state.json (seed ${SEED})`);
  });

  await t.test("work in flight was re-adopted after a crash (Q4), and only pool sessions were touched (S1)", async (st) => {
    const adopted = logged("re-adopted a task after restart");
    const restarts = logged("tasks in active/ after restart").map((l) => ({ adopted: l.adopted, requeued: l.requeued, failed: l.failed }));
    st.diagnostic(`re-adoptions: ${adopted.length}; restarts with work in active/: ${JSON.stringify(restarts)}`);
    assert.ok(adopted.length > 0, `no run re-adopted a task (seed ${SEED})`);
    const names = await sessionNames();
    assert.deepEqual(names.filter((n) => n !== KEEPER && !POOL_NAMES.includes(n)), [], "sessions outside the pool range");
    assert.ok(names.includes(KEEPER), "the session outside the pool was left alone");
  });
  t.diagnostic(`${runs.length} daemon runs in ${Math.round((Date.now() - started) / 1000)} s (seed ${SEED})`);
});
