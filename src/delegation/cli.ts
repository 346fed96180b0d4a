/**
 * `ccl-delegate` (contract §8): the delegation contract for shell scripts. submit / get / result / decide.
 * stdout carries the answer (a job id, the job's JSON, the result text, a route); stderr the problems.
 * Exit codes: 0 ok, 1 failure (service, job failed, timeout, unreadable file), 2 usage (bad arguments, missing
 * environment, a task that is not for delegation).
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { Command } from "commander";
import { EXIT_FAILURE, EXIT_USAGE, readAll, type CliIo } from "../cli/io.js";
import { Exit, runProgram } from "../cli/program.js";
import { systemClock, type Clock } from "../lib/clock.js";
import { parseDuration } from "../lib/duration.js";
import { describeError } from "../lib/errors.js";
import { parseFrontmatterFields, splitFrontmatter } from "../queue/frontmatter.js";
import { decodeUtf8, MAX_TASK_BYTES } from "../queue/task.js";
import { IDEMPOTENCY_KEY_PATTERN, isValidJobId, JobClient } from "./client.js";
import { DelegationError } from "./errors.js";
import { explainRoute, hasRoutingFields, ROUTING_FIELDS } from "./router.js";
import { apiKeyFromEnv } from "./settings.js";

/** Side effects a test may replace. */
export interface CclDelegateDeps {
  clock?: Clock;
  fetch?: typeof fetch;
}

interface ReadTask {
  fields: Record<string, unknown>;
  prompt: string;
  /** Why the frontmatter could not be read, when it could not. */
  problem?: string;
}

/** Runs ccl-delegate with `argv` (without node and script); resolves the exit code. */
export async function runCclDelegate(argv: readonly string[], io: CliIo, deps: CclDelegateDeps = {}): Promise<number> {
  return runProgram(buildProgram(io, deps), argv, io, { name: "ccl-delegate", nameOnExits: true });
}

function buildProgram(io: CliIo, deps: CclDelegateDeps): Command {
  const program = new Command("ccl-delegate")
    .description("Delegate tasks to the remote AI job service (docs/contract.md §8)")
    .addHelpText("after", "\nEnvironment: CCL_SECUTOOLS_API_KEY (or SECUTOOLS_API_KEY); CCL_SECUTOOLS_URL (or CCL_SECUTOOLS_MOCK_URL).\nExit codes: 0 ok, 1 failure, 2 usage.\n")
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .showHelpAfterError();

  program
    .command("submit <task>")
    .description("submit TASK.md (or - for stdin) to the job service; prints the job id")
    .option("--project <name>", "the project named in the job's metadata (default: from <root>/<project>/inbox/TASK.md)")
    .option("--idempotency-key <key>", "sent as Idempotency-Key (default: a fresh UUID); run a submission again with the same key and the service answers the job it already made")
    .action(async (file: string, o: { project?: string; idempotencyKey?: string }) => {
      if (o.idempotencyKey !== undefined && !IDEMPOTENCY_KEY_PATTERN.test(o.idempotencyKey)) {
        throw new Exit(EXIT_USAGE, "--idempotency-key: expected 1–255 printable ASCII characters without spaces");
      }
      const task = await readTaskOrExit(file, io);
      if (task.problem) throw new Exit(EXIT_USAGE, `${file}: ${task.problem}`);
      if (!hasRoutingFields(task.fields)) {
        throw new Exit(EXIT_USAGE, `${file} sets none of the delegation fields (${ROUTING_FIELDS.join(", ")}): it is a plain local task, not for delegation`);
      }
      const route = explainRoute(task.fields);
      if (route.route === "local") throw new Exit(EXIT_USAGE, `${file} routes local, not to a provider: ${route.reason}`);
      if (task.prompt === "") throw new Exit(EXIT_USAGE, `${file}: the prompt is empty`);
      const hint = task.fields.complexity_hint;
      const answer = await call(() => client(io, deps).submit({
        provider: route.route as Exclude<typeof route.route, "local">,
        prompt: task.prompt,
        metadata: { task_id: taskIdOf(file), project: o.project ?? projectOf(file), complexity_hint: typeof hint === "string" ? hint.trim().toLowerCase() : null },
      }, undefined, o.idempotencyKey));
      io.stdout.write(`${answer.id}\n`);
    });

  program
    .command("get <id>")
    .description("print the job as JSON")
    .action(async (id: string) => {
      checkId(id);
      const job = await call(() => client(io, deps).get(id));
      io.stdout.write(`${JSON.stringify(job)}\n`);
    });

  program
    .command("result <id>")
    .description("wait for the job; print its result (exit 1 if it failed or the wait timed out)")
    .option("--timeout <duration>", "longest wait in all (polls and their retries included), e.g. 90s, 30m", "30m")
    .option("--interval <duration>", "time between polls", "2s")
    .action(async (id: string, o: { timeout: string; interval: string }) => {
      checkId(id);
      const timeoutMs = durationOrExit("--timeout", o.timeout);
      const pollIntervalMs = durationOrExit("--interval", o.interval);
      const job = await call(() => client(io, deps).waitForResult(id, { timeoutMs, pollIntervalMs }));
      const text = job.result ?? "";
      io.stdout.write(text === "" || text.endsWith("\n") ? text : `${text}\n`);
    });

  program
    .command("decide <task>")
    .description('print "local" or the provider TASK.md (or - for stdin) routes to')
    .action(async (file: string) => {
      const task = await readTaskOrExit(file, io);
      // The router fails safe: a frontmatter it cannot read routes local, with a word on stderr.
      if (task.problem) io.stderr.write(`ccl-delegate: ${file}: ${task.problem}; routing local\n`);
      io.stdout.write(`${explainRoute(task.fields).route}\n`);
    });
  return program;
}

function client(io: CliIo, deps: CclDelegateDeps): JobClient {
  const key = apiKeyFromEnv(io.env);
  if (!key) throw new Exit(EXIT_USAGE, "set CCL_SECUTOOLS_API_KEY (or SECUTOOLS_API_KEY) to the job service's API key");
  const url = io.env.CCL_SECUTOOLS_URL?.trim() || io.env.CCL_SECUTOOLS_MOCK_URL?.trim();
  if (!url) throw new Exit(EXIT_USAGE, "set CCL_SECUTOOLS_URL (or CCL_SECUTOOLS_MOCK_URL) to the job service's URL");
  try {
    return new JobClient({ url, apiKey: key.apiKey, clock: deps.clock ?? systemClock, ...(deps.fetch ? { fetch: deps.fetch } : {}) });
  } catch (err) {
    throw new Exit(EXIT_USAGE, describeError(err));
  }
}

async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof Exit) throw err;
    if (err instanceof DelegationError && err.code === "DELEGATION_INVALID_JOB_ID") throw new Exit(EXIT_USAGE, err.message);
    throw new Exit(EXIT_FAILURE, describeError(err));
  }
}

function checkId(id: string): void {
  if (!isValidJobId(id)) throw new Exit(EXIT_USAGE, `invalid job id ${JSON.stringify(id.slice(0, 140))}: expected [A-Za-z0-9._:-], not starting with a dot, at most 128 characters`);
}

function durationOrExit(flag: string, text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) throw new Exit(EXIT_USAGE, `${flag}: expected a duration such as 90s, 30m or 2h (got ${JSON.stringify(text)})`);
  return ms;
}

async function readTaskOrExit(file: string, io: CliIo): Promise<ReadTask> {
  let bytes: Buffer;
  try {
    bytes = file === "-" ? await readAll(io.stdin, MAX_TASK_BYTES + 1) : await readFile(file);
  } catch (err) {
    throw new Exit(EXIT_FAILURE, `cannot read ${file === "-" ? "stdin" : file}: ${describeError(err)}`);
  }
  if (bytes.length > MAX_TASK_BYTES) throw new Exit(EXIT_USAGE, `${file}: larger than 1 MiB (${bytes.length} bytes)`);
  const decoded = decodeUtf8(bytes);
  if (!decoded.ok) throw new Exit(EXIT_USAGE, `${file}: ${decoded.reason}`);
  const split = splitFrontmatter(decoded.text);
  const prompt = split.body.replace(/^(?:[ \t]*\r?\n)+/, "").trimEnd();
  if (split.yaml === undefined) return { fields: {}, prompt };
  const parsed = parseFrontmatterFields(split.yaml, split.yamlFirstLine);
  return parsed.ok ? { fields: parsed.fields, prompt } : { fields: {}, prompt, problem: parsed.reason };
}

function taskIdOf(file: string): string {
  if (file === "-") return "stdin";
  const base = path.basename(file);
  return base.endsWith(".md") ? base.slice(0, -3) : base;
}

// <root>/<project>/inbox/<id>.md names its project; any other path names none.
function projectOf(file: string): string {
  if (file === "-") return "";
  const dir = path.dirname(path.resolve(file));
  return path.basename(dir) === "inbox" ? path.basename(path.dirname(dir)) : "";
}
