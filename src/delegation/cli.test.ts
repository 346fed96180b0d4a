import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { PassThrough, Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { startMockJobService, type MockJobService } from "../../test/support/mock-job-service.js";
import { runCclDelegate } from "./cli.js";
import { RecordingClock, TASKS } from "./test-support.js";

const KEY = "cli-key-7f3a";
let mock: MockJobService;
let dir: string;
before(async () => {
  mock = await startMockJobService({ apiKey: KEY });
  dir = await mkdtemp(path.join(os.tmpdir(), "cf-ccl-"));
});
after(async () => {
  await mock.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => mock.reset());

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(argv: string[], env: NodeJS.ProcessEnv = { CCL_SECUTOOLS_API_KEY: KEY, CCL_SECUTOOLS_URL: mock.url }, stdin = ""): Promise<Run & { clock: RecordingClock }> {
  const out = new PassThrough();
  const err = new PassThrough();
  const chunks = { out: [] as Buffer[], err: [] as Buffer[] };
  out.on("data", (c: Buffer) => chunks.out.push(c));
  err.on("data", (c: Buffer) => chunks.err.push(c));
  const clock = new RecordingClock();
  const code = await runCclDelegate(argv, { stdout: out, stderr: err, stdin: Readable.from([stdin]), env }, { clock });
  return { code, stdout: Buffer.concat(chunks.out).toString(), stderr: Buffer.concat(chunks.err).toString(), clock };
}

async function task(name: string, text: string): Promise<string> {
  const file = path.join(dir, name);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text);
  return file;
}

describe("ccl-delegate (in-process)", () => {
  test("submit prints the job id and sends the task's prompt, id, project and hint", async () => {
    const file = await task("queue/alpha/inbox/t1.md", TASKS.gpu);
    const r = await run(["submit", file]);
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, "job-1\n", ""]);
    assert.deepEqual(mock.submits()[0]!.body, { provider: "gpu", prompt: "Summarise the logs.", metadata: { task_id: "t1", project: "alpha", complexity_hint: "low" } });
  });

  test("submit --project, and a task from stdin", async () => {
    const r = await run(["submit", "-", "--project", "beta"], undefined, TASKS.gemini);
    assert.equal(r.stdout, "job-1\n");
    assert.deepEqual((mock.submits()[0]!.body as { metadata: unknown }).metadata, { task_id: "stdin", project: "beta", complexity_hint: null });
  });

  for (const [name, text, message] of [
    ["none of the delegation fields", "---\ntitle: legacy\n---\nDo it.\n", /sets none of the delegation fields/],
    ["no frontmatter at all", "Do it.\n", /sets none of the delegation fields/],
    ["a task that routes local", TASKS.needsClaude, /routes local.*needs_claude_code is true/],
    ["delegation not allowed", "---\npreferred_ai: gpu\n---\nx\n", /routes local.*allow_delegation is absent/],
    ["an unknown provider", "---\nallow_delegation: true\npreferred_ai: gpt-9\n---\nx\n", /routes local.*unknown value "gpt-9"/],
    ["broken frontmatter", TASKS.broken, /malformed YAML/],
  ] as const) {
    test(`submit refuses ${name} with exit 2 and says why`, async () => {
      const r = await run(["submit", await task(`refused-${name.replace(/\W+/g, "-")}.md`, text)]);
      assert.equal(r.code, 2);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, message);
      assert.equal(mock.requests.length, 0);
    });
  }

  test("get prints the job as JSON", async () => {
    mock.plan({ result: "done!", cost_usd: 0.2 });
    await run(["submit", await task("g.md", TASKS.gpu)]);
    const r = await run(["get", "job-1"]);
    assert.equal(r.code, 0);
    assert.deepEqual(JSON.parse(r.stdout), { id: "job-1", status: "completed", provider: "gpu", result: "done!", cost_usd: 0.2 });
  });

  test("result waits (polling at --interval) and prints the result", async () => {
    mock.plan({ queuedPolls: 1, runningPolls: 1, result: "forty-two" });
    await run(["submit", await task("r.md", TASKS.gpu)]);
    const r = await run(["result", "job-1", "--interval", "500ms"]);
    assert.deepEqual([r.code, r.stdout], [0, "forty-two\n"]);
    assert.deepEqual(r.clock.sleeps, [500, 500]);
  });

  test("result: a failed job is exit 1 with its error on stderr", async () => {
    mock.plan({ outcome: "failed", error: "out of GPUs" });
    await run(["submit", await task("f.md", TASKS.gpu)]);
    const r = await run(["result", "job-1"]);
    assert.deepEqual([r.code, r.stdout], [1, ""]);
    assert.match(r.stderr, /job job-1 failed: out of GPUs/);
  });

  test("result: a timeout is exit 1", async () => {
    mock.plan({ manual: true });
    await run(["submit", await task("w.md", TASKS.gpu)]);
    const r = await run(["result", "job-1", "--timeout", "5s"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /did not finish within 5000 ms/);
    assert.deepEqual(r.clock.sleeps, [2000, 2000, 1000]);
  });

  test("result --timeout bounds the whole wait, a poll hanging on a silent service included", { timeout: 10_000 }, async () => {
    mock.plan({ manual: true });
    await run(["submit", await task("h.md", TASKS.gpu)]);
    mock.fault({ on: "get", times: 100, fault: { kind: "hang" } });
    const started = Date.now();
    const r = await run(["result", "job-1", "--timeout", "300ms"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /did not finish within 300 ms/);
    // Each hanging poll has its own 15 s deadline and three retries: without the bound this took a minute.
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
  });

  test("submit --idempotency-key: the same submission run twice is one job", async () => {
    const file = await task("k.md", TASKS.gpu);
    const a = await run(["submit", file, "--idempotency-key", "nightly-2026-12-06-k"]);
    const b = await run(["submit", file, "--idempotency-key", "nightly-2026-12-06-k"]);
    assert.deepEqual([a.code, a.stdout, b.code, b.stdout], [0, "job-1\n", 0, "job-1\n"]);
    assert.equal(mock.jobs.size, 1);
    assert.deepEqual(mock.submits().map((x) => x.idempotencyKey), ["nightly-2026-12-06-k", "nightly-2026-12-06-k"]);
    assert.equal((await run(["submit", file, "--idempotency-key", "has space"])).code, 2);
  });

  test("decide prints the route; a broken frontmatter routes local with a word on stderr", async () => {
    assert.equal((await run(["decide", await task("d1.md", TASKS.gpu)], {})).stdout, "gpu\n");
    assert.equal((await run(["decide", await task("d2.md", TASKS.local)], {})).stdout, "local\n");
    assert.equal((await run(["decide", "-"], {}, "---\nallow_delegation: on\npreferred_ai: ' AUTO '\n---\nx\n")).stdout, "auto\n");
    const broken = await run(["decide", await task("d3.md", TASKS.broken)], {});
    assert.deepEqual([broken.code, broken.stdout], [0, "local\n"]);
    assert.match(broken.stderr, /malformed YAML.*routing local/);
  });

  for (const [name, argv, env, code, message] of [
    ["no key", ["get", "job-1"], { CCL_SECUTOOLS_URL: "http://127.0.0.1:1" }, 2, /set CCL_SECUTOOLS_API_KEY/],
    ["no URL", ["get", "job-1"], { SECUTOOLS_API_KEY: "k" }, 2, /set CCL_SECUTOOLS_URL/],
    ["a job id with path characters", ["get", "../../etc/passwd"], undefined, 2, /invalid job id/],
    ["a bad --timeout", ["result", "job-1", "--timeout", "soon"], undefined, 2, /--timeout: expected a duration/],
    ["an unknown command", ["cancel", "job-1"], undefined, 2, /unknown command/],
    ["a missing argument", ["get"], undefined, 2, /missing required argument/],
    ["a file that is not there", ["decide", "/nonexistent/t.md"], {}, 1, /cannot read \/nonexistent\/t\.md/],
    ["an unknown job", ["get", "job-404"], undefined, 1, /HTTP 404/],
  ] as const) {
    test(`${name}: exit ${code}`, async () => {
      const r = await run([...argv], env);
      assert.equal(r.code, code);
      assert.match(r.stderr, message);
    });
  }

  test("the mock URL variable works, and the key reaches the service as a bearer token only", async () => {
    const r = await run(["submit", await task("m.md", TASKS.gpu)], { SECUTOOLS_API_KEY: KEY, CCL_SECUTOOLS_MOCK_URL: mock.url });
    assert.equal(r.code, 0);
    assert.ok(mock.submits()[0]!.authOk);
    const wrong = await run(["get", "job-1"], { SECUTOOLS_API_KEY: "wrong-key-123", CCL_SECUTOOLS_MOCK_URL: mock.url });
    assert.equal(wrong.code, 1);
    assert.doesNotMatch(wrong.stderr, /wrong-key-123/);
  });

  test("--help is exit 0 and lists the commands", async () => {
    const r = await run(["--help"], {});
    assert.equal(r.code, 0);
    assert.match(r.stdout, /submit \[options\] <task>[\s\S]*get <id>[\s\S]*result \[options\] <id>[\s\S]*decide <task>/);
    const none = await run([], {});
    assert.equal(none.code, 2);
    assert.match(none.stderr, /Usage: ccl-delegate/);
  });
});

describe("ccl-delegate as a shell script calls it", () => {
  const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

  test("decide, submit, get, result, a refused legacy task, a failed job — exit codes and streams", async () => {
    mock.plan({ result: "summary: all good", cost_usd: 0.3 });
    mock.plan({ outcome: "failed", error: "model refused" });
    const good = await task("sh/alpha/inbox/good.md", TASKS.gpu);
    const bad = await task("sh/alpha/inbox/bad.md", TASKS.gemini);
    const legacy = await task("sh/alpha/inbox/legacy.md", "---\ntitle: old\n---\nDo it.\n");
    const script = `
      set -u
      cd "${repo}"
      d() { node --import tsx src/ccl-delegate.ts "$@"; }
      echo "decide=$(d decide "${good}")"
      JOB=$(d submit "${good}") || exit 10
      echo "job=$JOB"
      d get "$JOB" > "${dir}/job.json" || exit 11
      echo "result=$(d result "$JOB" --timeout 30s)"
      d submit "${legacy}" 2> "${dir}/legacy.err"; echo "legacy_rc=$?"
      BAD=$(d submit "${bad}")
      d result "$BAD" 2> "${dir}/bad.err"; echo "bad_rc=$?"
    `;
    const child = spawn("bash", ["-c", script], { env: { ...process.env, CCL_SECUTOOLS_API_KEY: KEY, CCL_SECUTOOLS_URL: mock.url, SECUTOOLS_API_KEY: "" } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    assert.equal(code, 0, stderr);
    assert.equal(stdout, "decide=gpu\njob=job-1\nresult=summary: all good\nlegacy_rc=2\nbad_rc=1\n");
    assert.deepEqual(JSON.parse(await readFile(path.join(dir, "job.json"), "utf8")), { id: "job-1", status: "completed", provider: "gpu", result: "summary: all good", cost_usd: 0.3 });
    assert.match(await readFile(path.join(dir, "legacy.err"), "utf8"), /sets none of the delegation fields/);
    assert.match(await readFile(path.join(dir, "bad.err"), "utf8"), /job job-2 failed: model refused/);
    assert.equal(mock.submits().length, 2);
  });
});
