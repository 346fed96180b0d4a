import { Command } from "commander";
import { ConfigError, loadConfig, resolveConfigPath } from "../config/loader.js";
import type { Config } from "../config/schema.js";
import { VERSION } from "../lib/version.js";
import { realDoctorDeps, runDoctor } from "../daemon/doctor.js";
import { describeError } from "../lib/errors.js";
import { EXIT_FAILURE, EXIT_USAGE, type CliIo } from "./io.js";
import { runDaemonCommand } from "./run-command.js";
import { classifyText, formatVerdict } from "../claude/classify-command.js";
import { readFile } from "node:fs/promises";
import { readAll } from "./io.js";
import { Exit, runProgram } from "./program.js";
import path from "node:path";
import { submitTask } from "../queue/submit.js";
import { MAX_TASK_BYTES } from "../queue/task.js";
import { listProjectTasks, type TaskListing } from "../queue/status.js";
import { formatDuration } from "../lib/duration.js";
import { HOOK_DEFAULTS, runHookEntry } from "./hook-entry.js";
import { formatStatus, table } from "./status-format.js";

const MAX_CAPTURE_BYTES = 16 * 1024 * 1024;
// A swap kills and recreates the pool and resumes its tasks: minutes, not seconds.
const SWAP_WAIT_MS = 180_000;

async function readCapped(file: string, max = MAX_CAPTURE_BYTES): Promise<Buffer> {
  const bytes = await readFile(file);
  if (bytes.length > max) throw new Error(`larger than ${max} bytes`);
  return bytes;
}

async function configOrExit(flag: string | undefined, io: CliIo): Promise<Config> {
  try {
    return await loadConfig(resolveConfigPath(flag, io.env));
  } catch (err) {
    if (err instanceof ConfigError) throw new Exit(EXIT_USAGE, err.message);
    throw err;
  }
}

interface ApiTarget {
  base: string;
  headers: Record<string, string>;
}

/** Where the running daemon's API is, and its token, from the config (or --url). */
function apiTarget(config: Config | undefined, url: string | undefined, env: NodeJS.ProcessEnv): ApiTarget {
  const base = url ?? `http://${config?.http.listen ?? "127.0.0.1:7420"}`;
  const tokenEnv = config?.http.token_env;
  const token = tokenEnv ? env[tokenEnv] : undefined;
  return { base: base.replace(/\/$/, ""), headers: token ? { authorization: `Bearer ${token}` } : {} };
}

const CONFIG_HELP = "config file (default: $CLAUDE_FAILOVER_CONFIG or /etc/claude-failover/config.yaml)";
const URL_HELP = "the daemon's API (default: from the config's http.listen)";

function withConfig(c: Command): Command {
  return c.option("-c, --config <path>", CONFIG_HELP);
}

/** Builds the command tree; every action returns through Exit or normally (exit 0). */
export function buildProgram(io: CliIo): Command {
  const program = new Command("claude-failover")
    .description("Keeps a pool of Claude Code sessions in tmux working unattended across several accounts")
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .showHelpAfterError();
  // In this order: it is the order `--help` lists them in.
  addDaemonCommands(program, io);
  addToolCommands(program, io);
  addOperatorCommands(program, io);
  return program;
}

/** run, status, doctor: running the daemon and checking on it. */
function addDaemonCommands(program: Command, io: CliIo): void {
  withConfig(program.command("run").description("run the daemon in the foreground (systemd ExecStart)"))
    .option("--reset-state", "if state.json is corrupt, move it aside and start from defaults (without it, the daemon refuses to start)")
    .action(async (o: { config?: string; resetState?: boolean }) => {
      const config = await configOrExit(o.config, io);
      throw new Exit(await runDaemonCommand(config, io, { resetCorruptState: o.resetState === true }));
    });

  withConfig(program.command("status").description("what /status says, as a table"))
    .option("--json", "print the raw JSON")
    .option("--url <url>", URL_HELP)
    .action(async (o: { config?: string; json?: boolean; url?: string }) => {
      const body = await fetchStatus(apiTarget(await configForApi(o, io), o.url, io.env));
      io.stdout.write(o.json ? JSON.stringify(body, null, 2) + "\n" : formatStatus(body));
    });

  withConfig(program.command("doctor").description("check config, tmux, the claude binary, account homes, credentials and shared links")).action(async (o: { config?: string }) => {
    const config = await configOrExit(o.config, io);
    const findings = await runDoctor(config, { ...realDoctorDeps(), env: io.env });
    for (const f of findings) {
      io.stdout.write(`${f.ok ? "ok  " : "FAIL"} ${f.check.padEnd(13)} ${f.message}\n`);
      if (!f.ok && f.fix) io.stdout.write(`     ${"".padEnd(13)} fix: ${f.fix}\n`);
    }
    const bad = findings.filter((f) => !f.ok).length;
    io.stdout.write(bad === 0 ? "all checks passed\n" : `${bad} problem(s)\n`);
    if (bad > 0) throw new Exit(EXIT_FAILURE);
  });
}

/** classify, hook: what a pane capture means, and the entry Claude Code's hooks call. */
function addToolCommands(program: Command, io: CliIo): void {
  program
    .command("classify [file]")
    .description("what the screen classifier makes of a pane capture (FILE, or - / nothing for stdin)")
    .option("--json", "print {state, detail, limit: {kind, resets_at} | null}")
    .option("--now <iso>", "the instant reset times are computed from (default: the clock)")
    .action(async (file: string | undefined, o: { json?: boolean; now?: string }) => {
      const now = o.now === undefined ? Date.now() : Date.parse(o.now);
      if (Number.isNaN(now)) throw new Exit(EXIT_USAGE, `--now: expected an ISO-8601 instant such as 2026-04-17T02:17:19Z (got ${JSON.stringify(o.now)})`);
      let bytes: Buffer;
      try {
        bytes = file === undefined || file === "-" ? await readAll(io.stdin, MAX_CAPTURE_BYTES) : await readCapped(file);
      } catch (err) {
        throw new Exit(EXIT_FAILURE, `classify: cannot read ${file ?? "stdin"}: ${describeError(err)}`);
      }
      io.stdout.write(formatVerdict(classifyText(bytes.toString("utf8"), now), { json: o.json === true }) + "\n");
    });

  program
    .command("hook <event>")
    .description("called by Claude Code hooks with the payload on stdin; forwards it to the daemon (spool file if the daemon is down)")
    .option("--url <url>", "the daemon's API", HOOK_DEFAULTS.url)
    .option("--state-dir <dir>", "the daemon's state_dir (spool, token)", HOOK_DEFAULTS.stateDir)
    .action(async (event: string, o: { url: string; stateDir: string }) => {
      await runHookEntry([event, "--url", o.url, "--state-dir", o.stateDir], io);
    });
}

/** swap, submit, queue: the operator's hands on accounts and tasks. */
function addOperatorCommands(program: Command, io: CliIo): void {
  withConfig(program.command("swap [account]").description("manual swap to ACCOUNT (or the next available account)"))
    .option("--url <url>", URL_HELP)
    .action(async (account: string | undefined, o: { config?: string; url?: string }) => {
      const body = await postSwap(apiTarget(await configForApi(o, io), o.url, io.env), account);
      io.stdout.write(`swapped ${body.from ?? "?"} → ${body.to ?? "?"}\n`);
    });
  withConfig(program.command("submit <project> <file>").description("drop a task into a project's inbox safely (FILE, or - for stdin)"))
    .action(async (project: string, file: string, o: { config?: string }) => {
      const config = await configOrExit(o.config, io);
      if (!(project in config.queue.projects)) {
        throw new Exit(EXIT_USAGE, `unknown project ${JSON.stringify(project)}: configured projects are ${Object.keys(config.queue.projects).join(", ") || "(none)"}`);
      }
      let bytes: Buffer;
      try {
        bytes = file === "-" ? await readAll(io.stdin, MAX_TASK_BYTES + 1) : await readCapped(file, MAX_TASK_BYTES + 1);
      } catch (err) {
        throw new Exit(EXIT_FAILURE, `submit: cannot read ${file === "-" ? "stdin" : file}: ${describeError(err)}`);
      }
      try {
        const id = await submitTask(config.queue.root, project, bytes, file === "-" ? {} : { sourceName: path.basename(file) });
        io.stdout.write(`${id}\n`);
      } catch (err) {
        throw new Exit(EXIT_FAILURE, `submit: ${describeError(err)}`);
      }
    });

  withConfig(program.command("queue [project]").description("tasks by state"))
    .option("--json", "print the listing as JSON")
    .option("--finished <n>", "done/failed tasks shown per project", "20")
    .action(async (project: string | undefined, o: { config?: string; json?: boolean; finished: string }) => {
      const config = await configOrExit(o.config, io);
      if (project !== undefined && !(project in config.queue.projects)) throw new Exit(EXIT_USAGE, `unknown project ${JSON.stringify(project)}`);
      const finished = Number(o.finished);
      if (!Number.isInteger(finished) || finished < 0) throw new Exit(EXIT_USAGE, "--finished: expected a whole number");
      const rows = await listQueue(config, project === undefined ? Object.keys(config.queue.projects) : [project], finished);
      if (o.json) {
        io.stdout.write(JSON.stringify(rows, null, 2) + "\n");
        return;
      }
      io.stdout.write(table(["PROJECT", "TASK", "STATE", "PRIORITY", "AGE", "TITLE", "BRANCH"], rows.map((r) => [r.project, r.id, r.state, r.priority, formatDuration(r.ageMs), r.title ?? "", r.branch ?? ""])) + "\n");
    });
}

/** With --url the config is optional (only its token is wanted); without, it must load. */
async function configForApi(o: { config?: string; url?: string }, io: CliIo): Promise<Config | undefined> {
  return o.url ? await loadConfig(resolveConfigPath(o.config, io.env)).catch(() => undefined) : await configOrExit(o.config, io);
}

/** GET /status, or Exit with why the daemon did not answer. */
async function fetchStatus({ base, headers }: ApiTarget): Promise<unknown> {
  try {
    const r = await fetch(`${base}/status`, { headers, signal: AbortSignal.timeout(5000) });
    if (!r.ok) throw new Exit(EXIT_FAILURE, `daemon at ${base} answered HTTP ${r.status}`);
    return await r.json();
  } catch (err) {
    if (err instanceof Exit) throw err;
    throw new Exit(EXIT_FAILURE, `the daemon is not answering at ${base}: ${describeError(err)} (is \`claude-failover run\` running?)`);
  }
}

/** POST /api/swap and wait for the swap's end; Exit unless it succeeded. */
async function postSwap({ base, headers }: ApiTarget, account: string | undefined): Promise<{ from?: string; to?: string }> {
  let r: Response;
  try {
    r = await fetch(`${base}/api/swap`, {
      method: "POST", headers: { ...headers, "content-type": "application/json" }, body: JSON.stringify(account ? { to: account } : {}),
      signal: AbortSignal.timeout(SWAP_WAIT_MS),
    });
  } catch (err) {
    throw new Exit(EXIT_FAILURE, `the daemon is not answering at ${base}: ${describeError(err)}`);
  }
  const body = (await r.json().catch(() => ({}))) as { ok?: boolean; from?: string; to?: string; error?: string; outcome?: string };
  if (!r.ok || body.ok !== true) throw new Exit(r.status === 400 ? EXIT_USAGE : EXIT_FAILURE, `swap refused or failed (HTTP ${r.status}): ${body.error ?? body.outcome ?? "no detail"}`);
  return body;
}

/** The listing of `projects`, with the branch of each worktree task in flight (from the daemon's state.json). */
async function listQueue(config: Config, projects: string[], finished: number): Promise<TaskListing[]> {
  const rows: TaskListing[] = [];
  for (const p of projects) rows.push(...(await listProjectTasks(config.queue.root, p, Date.now(), finished)));
  const branches = await activeBranches(config.state_dir);
  for (const r of rows) if (r.state === "active" && branches[`${r.project}/${r.id}`]) r.branch = branches[`${r.project}/${r.id}`];
  return rows;
}

/** Branches of the worktree tasks in flight, by "project/id", read leniently from state.json (none when unreadable). */
async function activeBranches(stateDir: string): Promise<Record<string, string>> {
  try {
    const json = JSON.parse(await readFile(path.join(stateDir, "state.json"), "utf8")) as { data?: { tasks?: Record<string, { worktree?: { branch?: unknown } }> } };
    const out: Record<string, string> = {};
    for (const [key, t] of Object.entries(json.data?.tasks ?? {})) if (typeof t.worktree?.branch === "string") out[key] = t.worktree.branch;
    return out;
  } catch {
    return {};
  }
}

/** Runs the CLI with `argv` (without node and script); resolves the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  return runProgram(buildProgram(io), argv, io, { name: "claude-failover", nameOnExits: false });
}
