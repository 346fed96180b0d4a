// The benchmark of contract §10 on this machine: dispatch and completion latency with the real Claude Code
// CLI against the mock model API, usage-limit detection and swap duration, the steady-state cost of
// watching idle sessions, and start-up with 10,000 waiting tasks, each figure next to the floor it
// cannot beat, measured in the same run.
// Everything lives in temp dirs with private tmux sockets and loopback servers; whatever it started
// is stopped and removed on exit, failure or Ctrl-C. About 4 minutes on a 2-core machine.
//   npx tsx scripts/bench.ts                 all phases; prints the tables, rewrites docs/benchmarks.md
//   npx tsx scripts/bench.ts --help          the knobs
import { execFileSync, spawn } from "node:child_process";
import { access, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { CLAUDE_BIN, REPO } from "../test/support/claude-sandbox.js";
import { CURRENT_PINNED, ensureClaude } from "../test/support/claude-install.js";
import type { BenchContext, BenchOptions } from "./bench/harness.js";
import { runFailover } from "./bench/failover.js";
import { runLatency } from "./bench/latency.js";
import { renderResults, writeDoc, type Machine, type Results } from "./bench/report.js";
import { runScale } from "./bench/scale.js";
import { runSteady } from "./bench/steady.js";
import { now } from "./bench/support.js";

const PHASES = ["steady", "latency", "failover", "scale"] as const;
type Phase = (typeof PHASES)[number];

const say = (line = ""): void => void process.stdout.write(line + "\n");

const { values: flags } = parseArgs({
  options: {
    tasks: { type: "string", default: "10" },
    window: { type: "string", default: "30" },
    files: { type: "string", default: "10000" },
    projects: { type: "string", default: "50" },
    "swap-pool": { type: "string", default: "4" },
    swaps: { type: "string", default: "3" },
    "swap-dedicated": { type: "string", default: "1" },
    "swap-hooks": { type: "string", default: "on" },
    only: { type: "string" },
    doc: { type: "string", default: path.join(REPO, "docs/benchmarks.md") },
    "no-doc": { type: "boolean", default: false },
    logs: { type: "string" },
    json: { type: "string" },
    help: { type: "boolean", default: false },
  },
});
if (flags.help) {
  say(`npx tsx scripts/bench.ts [options]
  --tasks N      rounds of the latency phase: floors, then one task (default 10)
  --window S     seconds of each steady-state window (default 30)
  --files N      waiting tasks of the scale phase (default 10000)
  --projects N   projects they are spread across (default 50)
  --swap-pool N  pool agents at work when the usage limit hits, failover phase (default 4)
  --swaps N      swaps of the failover phase, one per round (default 3)
  --swap-dedicated N  operator agents in dedicated sessions, brought back by each swap (default 1)
  --swap-hooks off    the agents' hooks reach nobody: usage limits are seen on screen or in the
                      transcript only (default on)
  --only LIST    some of: ${PHASES.join(",")} (default all)
  --doc FILE     the doc whose generated block is rewritten (default docs/benchmarks.md)
  --no-doc       print only
  --logs DIR     keep a copy of each daemon's log (JSON lines) in DIR
  --json FILE    also write every raw sample as JSON`);
  process.exit(0);
}
const int = (name: keyof typeof flags, min: number): number => {
  const v = Number(flags[name]);
  if (!Number.isInteger(v) || v < min) {
    say(`--${name} expects an integer ≥ ${min}, got ${String(flags[name])}`);
    process.exit(2);
  }
  return v;
};
if (flags["swap-hooks"] !== "on" && flags["swap-hooks"] !== "off") {
  say(`--swap-hooks expects on or off, got ${String(flags["swap-hooks"])}`);
  process.exit(2);
}
const opts: BenchOptions = {
  tasks: int("tasks", 1), window: int("window", 1), files: int("files", 1), projects: int("projects", 1),
  swapPool: int("swap-pool", 2), swaps: int("swaps", 1), swapDedicated: int("swap-dedicated", 1), swapHooks: flags["swap-hooks"] !== "off",
};
const phases = (flags.only?.split(",").map((s) => s.trim()) ?? [...PHASES]) as Phase[];
for (const p of phases) {
  if (!(PHASES as readonly string[]).includes(p)) {
    say(`--only: unknown phase ${p} (phases: ${PHASES.join(", ")})`);
    process.exit(2);
  }
}

let claudeVersion: string;
let tmuxVersion: string;
try {
  tmuxVersion = execFileSync("tmux", ["-V"], { encoding: "utf8" }).trim();
  if (!process.env.CLAUDE_FAILOVER_TEST_CLAUDE) await ensureClaude(CURRENT_PINNED);
  claudeVersion = execFileSync(CLAUDE_BIN, ["--version"], { encoding: "utf8", env: { ...process.env, DISABLE_AUTOUPDATER: "1" } }).trim();
} catch (err) {
  say(`missing a prerequisite: ${String(err).split("\n")[0]}`);
  say("needs tmux ≥ 3.2 and `npm ci` (it installs the pinned Claude Code CLI).");
  process.exit(1);
}
// No credential of the machine reaches the agents or the daemon (delegation stays off without its
// key: nothing leaves loopback); the sandboxes set HOME per phase.
for (const v of [
  "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN", "CLAUDE_CONFIG_DIR", "TMUX", "TMUX_PANE",
  "CCL_SECUTOOLS_API_KEY", "SECUTOOLS_API_KEY", "CCL_SECUTOOLS_URL",
]) delete process.env[v];

// Clean-up steps, run last-in first-out: at the end of each phase, and on failure or Ctrl-C.
const steps: (() => Promise<unknown>)[] = [];
const track = (step: () => Promise<unknown>): (() => void) => {
  steps.push(step);
  return () => {
    const i = steps.lastIndexOf(step);
    if (i !== -1) steps.splice(i, 1);
  };
};
async function unwindTo(mark: number): Promise<void> {
  while (steps.length > mark) await steps.pop()!().catch(() => undefined);
}
let interrupted = false;
for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    say(`\n${signal}: stopping the daemon, killing the private tmux servers, removing the temp dirs …`);
    void unwindTo(0).then(() => process.exit(code));
  });
}

/**
 * Compiles the CLI into a temp dir, for the agents' hooks: under tsx every hook would pay tsx's own
 * start-up, which an installed daemon (node dist/main.js) does not. The repo's dist/ is left alone.
 */
async function buildCli(): Promise<string[] | undefined> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "cf-bench-build-"));
  track(() => rm(dir, { recursive: true, force: true }));
  const out = path.join(dir, "dist");
  const child = spawn(process.execPath, [path.join(REPO, "node_modules/typescript/bin/tsc"), "-p", path.join(REPO, "tsconfig.build.json"), "--outDir", out], { stdio: "ignore" });
  const untrack = track(async () => child.kill("SIGKILL"));
  await new Promise((resolve) => child.on("close", resolve));
  untrack();
  const main = path.join(out, "main.js");
  if (!(await access(main).then(() => true, () => false))) return undefined;
  await writeFile(path.join(dir, "package.json"), '{ "type": "module" }\n');
  await symlink(path.join(REPO, "node_modules"), path.join(dir, "node_modules"));
  return [process.execPath, main];
}

function gitRevision(): string {
  try {
    const rev = execFileSync("git", ["-C", REPO, "rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["-C", REPO, "status", "--porcelain", "--untracked-files=no", "--", "src"], { encoding: "utf8" }).trim() !== "";
    return dirty ? `${rev} with uncommitted changes in src/` : rev;
  } catch {
    return "unknown revision";
  }
}

const started = now();
const machine: Machine = {
  date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
  load: `${os.loadavg()[0]!.toFixed(2)} at the start`,
  // Only the flags that change what is measured (not --json, --logs, --doc, --no-doc).
  command: ["npx tsx scripts/bench.ts", ...(["tasks", "window", "files", "projects", "swap-pool", "swaps", "swap-dedicated", "swap-hooks", "only"] as const)
    .filter((k) => process.argv.some((a) => a === `--${k}` || a.startsWith(`--${k}=`)))
    .map((k) => `--${k} ${String(flags[k])}`)].join(" "),
  code: gitRevision(),
  cpus: `${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? "unknown CPU"}`,
  memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
  kernel: os.release(),
  node: process.version,
  tmux: tmuxVersion,
  claude: claudeVersion.split(" ")[0] ?? claudeVersion,
  tmpFs: (() => {
    try {
      return execFileSync("stat", ["-f", "-c", "%T", os.tmpdir()], { encoding: "utf8" }).trim();
    } catch {
      return "unknown filesystem";
    }
  })(),
};
const results: Results = { machine, errors: [] };

let exitCode = 0;
try {
  say(`claude-failover benchmark: ${machine.cpus}, Node ${machine.node}, ${machine.tmux}, Claude Code ${machine.claude}`);
  let compiledCli: string[] | undefined;
  if (phases.includes("latency") || phases.includes("failover")) {
    say("compiling the CLI into a temp dir for the agents' hooks (tsc) …");
    compiledCli = await buildCli();
    if (!compiledCli) say("  the build produced no main.js: hooks will run under tsx (slower than an installed daemon)");
  }
  if (flags.logs) await mkdir(flags.logs, { recursive: true });
  const ctx: BenchContext = { opts, say, compiledCli, track, logsDir: flags.logs ? path.resolve(flags.logs) : undefined };
  const run = async <T>(phase: Phase, title: string, fn: () => Promise<T>): Promise<T | undefined> => {
    if (!phases.includes(phase) || interrupted) return undefined;
    say(`\n== ${title}`);
    const mark = steps.length;
    const t0 = now();
    try {
      return await fn();
    } catch (err) {
      if (interrupted) return undefined;
      const message = err instanceof Error ? err.message : String(err);
      results.errors.push(`${phase}: ${message}`);
      say(`  FAILED: ${message}`);
      return undefined;
    } finally {
      if (!interrupted) await unwindTo(mark);
      say(`  (${((now() - t0) / 1000).toFixed(0)} s)`);
    }
  };
  // Steady state first: the process's memory is then least shaped by the other phases.
  results.steady = await run("steady", "steady-state cost of idle sessions", () => runSteady(ctx));
  results.latency = await run("latency", "dispatch and completion latency (real CLI, mock model API)", () => runLatency(ctx));
  results.failover = await run("failover", `detection latency and swap duration (${opts.swapPool} pool agents at work + ${opts.swapDedicated} dedicated, real CLI)`, () => runFailover(ctx));
  results.scale = await run("scale", `start-up with ${opts.files} waiting tasks across ${opts.projects} projects`, () => runScale(ctx));
  if (interrupted) await new Promise(() => undefined);
  machine.durationS = (now() - started) / 1000;
  machine.load = `${machine.load}, ${os.loadavg()[0]!.toFixed(2)} at the end`;
  const body = renderResults(results);
  say(`\n${body}\n`);
  if (!flags["no-doc"]) {
    await writeDoc(flags.doc, body);
    say(`written: ${path.relative(process.cwd(), flags.doc) || flags.doc}`);
  }
  if (flags.json) await writeFile(flags.json, JSON.stringify(results, null, 2) + "\n");
  if (results.errors.length > 0) exitCode = 1;
} catch (err) {
  say(`benchmark failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  exitCode = 1;
} finally {
  if (!interrupted) await unwindTo(0);
}
if (!interrupted) process.exit(exitCode);
