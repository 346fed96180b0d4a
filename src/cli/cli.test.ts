import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { PassThrough, Readable } from "node:stream";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { runCli } from "./cli.js";
import { makeSandbox } from "../../test/support/sandbox.js";
import { formatStatus } from "./status-format.js";

async function cli(argv: string[], env: NodeJS.ProcessEnv = {}, stdin = ""): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (b: Buffer) => (out += b.toString()));
  stderr.on("data", (b: Buffer) => (err += b.toString()));
  const code = await runCli(argv, { stdout, stderr, stdin: Readable.from([stdin]), env });
  return { code, out, err };
}

describe("CLI", () => {
  test("--help and --version exit 0", async () => {
    const help = await cli(["--help"]);
    assert.equal(help.code, 0);
    for (const c of ["run", "status", "doctor", "swap", "submit", "queue"]) assert.match(help.out, new RegExp(`\\b${c}\\b`));
    const v = await cli(["--version"]);
    assert.equal(v.code, 0);
    assert.match(v.out, /^\d+\.\d+\.\d+/);
  });

  test("an unknown command or option is exit 2", async () => {
    assert.equal((await cli(["frobnicate"])).code, 2);
    assert.equal((await cli(["status", "--bogus"])).code, 2);
  });

  test("swap without a daemon says so, exit 1", async () => {
    const r = await cli(["swap", "backup", "--url", "http://127.0.0.1:9"]);
    assert.equal(r.code, 1);
    assert.match(r.err, /not answering/);
  });

  test("a missing config file is exit 2 naming the file", async () => {
    const r = await cli(["doctor", "--config", "/nonexistent/cf.yaml"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /\/nonexistent\/cf\.yaml/);
    assert.match(r.err, /no such file/);
  });

  test("CLAUDE_FAILOVER_CONFIG is used when --config is absent", async () => {
    const r = await cli(["doctor"], { CLAUDE_FAILOVER_CONFIG: "/nonexistent/env.yaml" });
    assert.equal(r.code, 2);
    assert.match(r.err, /\/nonexistent\/env\.yaml/);
  });

  test("a config with several errors lists them all, exit 2", async () => {
    const sb = await makeSandbox();
    try {
      await writeFile(sb.configPath, "accounts: []\npool: { autonomous: { min: 5, max: 1 } }\nnope: 1\n");
      const r = await cli(["run", "--config", sb.configPath]);
      assert.equal(r.code, 2);
      assert.match(r.err, /accounts: at least one account/);
      assert.match(r.err, /pool\.autonomous\.min: must be ≤ max \(got 5 > 1\)/);
      assert.match(r.err, /nope: unknown key/);
    } finally {
      await sb.close();
    }
  });

  test("doctor lists each problem with its fix and exits 1", async () => {
    const sb = await makeSandbox();
    try {
      const file = await sb.writeConfig({
        claude: { command: path.join(sb.dir, "no-claude"), link: path.join(sb.home, ".claude"), shared_root: sb.home },
        accounts: [{ name: "main", home: path.join(sb.home, ".claude-main") }, { name: "ghost", home: path.join(sb.home, ".claude-ghost") }],
      });
      const r = await cli(["doctor", "--config", file], { PATH: process.env.PATH });
      assert.equal(r.code, 1, r.out + r.err);
      assert.match(r.out, /FAIL claude .*no-claude --version failed/);
      assert.match(r.out, /FAIL account-home +account ghost: .* does not exist\n +fix: mkdir -p/);
      assert.match(r.out, /FAIL credentials +account main: .*no credentials\n +fix: log in once/);
      assert.match(r.out, /ok +tmux/);
      assert.match(r.out, /\d+ problem\(s\)/);
    } finally {
      await sb.close();
    }
  });

  test("classify reads a capture from a file or stdin and prints the verdict", async () => {
    const fixture = new URL("../../test/fixtures/claude-code/30-oauth-usage-limit-5h.txt", import.meta.url).pathname;
    const r = await cli(["classify", fixture, "--json", "--now", "2025-11-27T12:00:00Z"]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(JSON.parse(r.out), { state: "limit", detail: "limit-banner", limit: { kind: "session", resets_at: "2025-11-28T00:57:00.000Z" } });
    const stdin = await cli(["classify", "-", "--json"], {}, "API Error: 500 {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"rate limit\"}}\n");
    assert.equal(stdin.code, 0);
    assert.notEqual((JSON.parse(stdin.out) as { state: string }).state, "limit");
  });

  test("classify refuses a bad --now (exit 2) and a missing file (exit 1)", async () => {
    assert.equal((await cli(["classify", "-", "--now", "yesterday"])).code, 2);
    const r = await cli(["classify", "/nonexistent/capture.txt"]);
    assert.equal(r.code, 1);
    assert.match(r.err, /cannot read \/nonexistent\/capture\.txt/);
  });

  test("submit drops a task into the inbox (file or stdin); queue lists it; bad input is refused", async () => {
    const sb = await makeSandbox();
    try {
      const file = await sb.writeConfig({ queue: { root: path.join(sb.dir, "queue"), projects: { web: sb.dir } } });
      const task = path.join(sb.dir, "install-d2.md");
      await writeFile(task, "---\ntitle: Install d2\npriority: high\n---\nInstall the d2 CLI.\n");
      const a = await cli(["submit", "web", task, "--config", file]);
      assert.equal(a.code, 0, a.err);
      assert.equal(a.out.trim(), "install-d2");
      const b = await cli(["submit", "web", "-", "--config", file], {}, "from stdin\n");
      assert.equal(b.code, 0, b.err);
      const { readdir } = await import("node:fs/promises");
      const inbox = (await readdir(path.join(sb.dir, "queue", "web", "inbox"))).sort();
      assert.deepEqual(inbox, [`${b.out.trim()}.md`, "install-d2.md"].sort());
      const q = await cli(["queue", "web", "--config", file]);
      assert.equal(q.code, 0, q.err);
      assert.match(q.out, /web +install-d2 +inbox +high +\S+ +Install d2/);
      assert.equal((await cli(["submit", "nope", task, "--config", file])).code, 2);
      const latin1 = path.join(sb.dir, "latin1.md");
      await writeFile(latin1, Buffer.from([0x63, 0x61, 0x66, 0xe9]));
      const bad = await cli(["submit", "web", latin1, "--config", file]);
      assert.equal(bad.code, 1);
      assert.match(bad.err, /UTF-8/);
      const big = await cli(["submit", "web", "-", "--config", file], {}, "x".repeat(1024 * 1024 + 10));
      assert.equal(big.code, 1);
    } finally {
      await sb.close();
    }
  });

  test("queue shows a worktree task's branch: from the footer when filed, from state.json while active", async () => {
    const sb = await makeSandbox();
    try {
      const file = await sb.writeConfig({ queue: { root: path.join(sb.dir, "queue"), projects: { web: sb.dir } } });
      const { mkdir } = await import("node:fs/promises");
      for (const f of ["done", "active"]) await mkdir(path.join(sb.dir, "queue", "web", f), { recursive: true });
      await mkdir(path.join(sb.dir, "state"), { recursive: true });
      await writeFile(path.join(sb.dir, "queue", "web", "done", "t1.md"), "---\ntitle: One\n---\nx\n\n## Result\n\nok\n\n<!-- claude-failover -->\nstatus: done\nattempts: 1\nbranch: cf/web/t1\ncommit: abc\n");
      await writeFile(path.join(sb.dir, "queue", "web", "active", "t2.md"), "---\ntitle: Two\n---\nx\n");
      await writeFile(path.join(sb.dir, "state", "state.json"), JSON.stringify({ version: 1, data: { tasks: { "web/t2": { worktree: { branch: "cf/web/t2-2" } } } } }));
      const q = await cli(["queue", "web", "--config", file]);
      assert.equal(q.code, 0, q.err);
      assert.match(q.out, /web +t2 +active +normal +\S+ +Two +cf\/web\/t2-2/);
      assert.match(q.out, /web +t1 +done +normal +\S+ +One +cf\/web\/t1/);
      const json = JSON.parse((await cli(["queue", "web", "--json", "--config", file])).out) as { id: string; branch?: string }[];
      assert.deepEqual(json.map((r) => [r.id, r.branch]), [["t2", "cf/web/t2-2"], ["t1", "cf/web/t1"]]);
    } finally {
      await sb.close();
    }
  });

  test("status says plainly when no daemon answers, exit 1", async () => {
    const r = await cli(["status", "--url", "http://127.0.0.1:9"]);
    assert.equal(r.code, 1);
    assert.match(r.err, /not answering at http:\/\/127\.0\.0\.1:9/);
  });
});

test("formatStatus renders accounts, sessions and queue counts", () => {
  const text = formatStatus({
    version: "0.1.0", lifecycle: "running", active_account: "main",
    accounts: [{ name: "main", state: "active" }, { name: "backup", state: "exhausted", until: "2026-01-01T05:00:00Z" }],
    sessions: [
      { name: "ccl-auto-11", kind: "pool", state: "busy", task: "p/t1", account: "main", since: "2026-01-01T00:00:00Z" },
      { name: "ccl-auto-12", kind: "pool", state: "busy", task: "p/t2", account: "main", since: "2026-01-01T00:00:00Z", branch: "cf/p/t2" },
    ],
    queue: { p: { inbox: 3, active: 1, done: 7 } },
  });
  assert.match(text, /ccl-auto-12 +pool +busy +p\/t2 +main +\S+ +cf\/p\/t2/);
  assert.match(text, /backup +exhausted until 2026-01-01T05:00:00Z/);
  assert.match(text, /ccl-auto-11 +pool +busy +p\/t1 +main/);
  assert.match(text, /p +3 +1 +0 +7 +0/);
});
