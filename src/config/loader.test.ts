import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { writeFile, mkdir } from "node:fs/promises";
import path from "node:path";
import { ConfigError, expandPath, loadConfig, parseConfigText, resolveConfigPath } from "./loader.js";
import { poolIndexOf, poolSessionNames, projectSettingsOf } from "./schema.js";
import { tempDir } from "../lib/test-temp.js";

const HOME = "/home/op";
const parse = (text: string) => parseConfigText(text, "/etc/cf/config.yaml", HOME);
const problemsOf = (text: string): readonly string[] => {
  try {
    parse(text);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.problems;
  }
  return assert.fail("expected the config to be refused");
};

describe("config loader", () => {
  test("a minimal file gets every default, with ~ expanded and durations in ms", () => {
    const c = parse("accounts:\n  - { name: main, home: ~/.claude-main }\n");
    assert.equal(c.accounts[0]!.home, "/home/op/.claude-main");
    assert.equal(c.state_dir, "/var/lib/claude-failover");
    assert.equal(c.http.listen, "127.0.0.1:7420");
    assert.equal(c.claude.link, "/home/op/.claude");
    assert.equal(c.claude.shared_root, "/home/op");
    assert.deepEqual(c.claude.args, ["--dangerously-skip-permissions"]);
    assert.deepEqual(c.pool.autonomous, { prefix: "ccl-auto-", start_index: 11, min: 2, max: 10, cwd: "/home/op" });
    assert.equal(c.queue.root, "/home/op/agent-queue");
    assert.equal(c.queue.rescan_interval, 30_000);
    assert.equal(c.queue.task_timeout, 7_200_000);
    assert.equal(c.watcher.stall_timeout, 1_200_000);
    assert.equal(c.quota.reactivate_cooldown, 300_000);
    assert.equal(c.janitor.failed_retention, 90 * 86_400_000);
    assert.equal(c.delegation.poll_interval, 2000);
    assert.equal(c.notifications.telegram.bot_token_env, "TELEGRAM_BOT_TOKEN");
  });

  test("a config setting every key is accepted", () => {
    const c = parse(`
state_dir: /var/lib/claude-failover
http: { listen: 127.0.0.1:7420, token_env: CF_TOKEN }
tmux: { socket: "", width: 200, height: 50 }
claude:
  command: claude
  args: [--dangerously-skip-permissions]
  link: ~/.claude
  shared_root: ~
  env: {}
accounts:
  - { name: main,   home: ~/.claude-main }
  - name: backup
    home: ~/.claude-backup
    env: { ANTHROPIC_BASE_URL: "" }
    env_from: { ANTHROPIC_API_KEY: BACKUP_KEY }
pool:
  autonomous: { prefix: ccl-auto-, start_index: 11, min: 2, max: 10, cwd: ~ }
  dedicated:
    - { name: ccl-1-conformvault, cwd: ~/filesecure }
queue:
  root: ~/agent-queue
  projects: { secuaas-hosting: ~/secuaas-hosting }
  rescan_interval: 30s
  task_timeout: 2h
  max_attempts: 2
watcher: { poll_interval: 5s, idle_confirm: 2, stall_timeout: 20m }
quota:   { poll_interval: 10s, reactivate_cooldown: 5m, confirm_polls: 2, usage_api: true, usage_threshold: 98,
           usage_api_url: https://api.anthropic.com/api/oauth/usage }
notifications:
  telegram: { bot_token_env: TELEGRAM_BOT_TOKEN, chat_id: "", api_url: https://api.telegram.org }
  email:    { api_key_env: RESEND_API_KEY, from: "", to: [], api_url: https://api.resend.com }
  min_interval: 5m
janitor: { interval: 1h, done_retention: 30d, failed_retention: 90d }
delegation: { url: "", poll_interval: 2s, job_timeout: 30m, reap_interval: 10s, daily_budget_usd: 0 }
`);
    assert.equal(c.accounts[1]!.env_from.ANTHROPIC_API_KEY, "BACKUP_KEY");
    assert.equal(c.pool.dedicated[0]!.cwd, "/home/op/filesecure");
    assert.equal(c.queue.projects["secuaas-hosting"], "/home/op/secuaas-hosting");
    assert.equal(c.http.token_env, "CF_TOKEN");
  });

  test("a project is a plain path (isolation none) or { path, isolation, max_parallel, base }", () => {
    const c = parseConfigText(`
accounts: [{ name: a, home: /a }]
queue:
  projects:
    plain: ~/plain
    web: { path: ~/web, isolation: worktree, max_parallel: 4, base: main }
    lean: { path: /srv/lean }
  git_identity: { name: Bot, email: bot@example.org }
`, "/etc/cf.yaml", "/home/op");
    assert.deepEqual(c.queue.projects, { plain: "/home/op/plain", web: "/home/op/web", lean: "/srv/lean" });
    assert.deepEqual(projectSettingsOf(c, "plain"), { isolation: "none" });
    assert.deepEqual(projectSettingsOf(c, "web"), { isolation: "worktree", max_parallel: 4, base: "main" });
    assert.deepEqual(projectSettingsOf(c, "lean"), { isolation: "none" });
    assert.deepEqual(projectSettingsOf(c, "unknown"), { isolation: "none" });
    assert.deepEqual(c.queue.git_identity, { name: "Bot", email: "bot@example.org" });
    assert.deepEqual(parseConfigText("accounts: [{ name: a, home: /a }]\n", "/etc/cf.yaml", "/home/op").queue.git_identity, { name: "claude-failover", email: "claude-failover@localhost" });
  });

  test("several errors are all listed, each by key path", () => {
    const problems = problemsOf(`
accounts:
  - { name: main, home: ~/a }
  - { name: main, home: ~/b }
tmux: { colour: blue }
pool:
  autonomous: { min: 12, max: 10 }
queue: { rescan_interval: soon, max_attempts: 0 }
http: { listen: "localhost" }
bogus: 1
`);
    const expected = [
      "accounts[1].name: duplicate account name \"main\" (also accounts[0])",
      "tmux.colour: unknown key",
      "pool.autonomous.min: must be ≤ max (got 12 > 10)",
      "queue.rescan_interval: expected a duration",
      "queue.max_attempts:",
      "http.listen: expected host:port",
      "bogus: unknown key",
    ];
    for (const e of expected) assert.ok(problems.some((p) => p.startsWith(e)), `missing ${JSON.stringify(e)} in:\n${problems.join("\n")}`);
  });

  const refused: [string, string, RegExp][] = [
    ["an empty document", "", /expected a mapping of keys, got an empty document/],
    ["a YAML list", "- a\n- b\n", /expected a mapping of keys, got a list/],
    ["a scalar", "hello\n", /expected a mapping of keys, got string/],
    ["no accounts", "state_dir: /x\n", /^accounts: expected array/],
    ["an empty account list", "accounts: []\n", /at least one account/],
    ["broken YAML", "accounts: [ { name: a\n", /\(yaml\)/],
    ["a duplicate key", "accounts: []\naccounts: []\n", /\(yaml\).*(duplicate|unique)/i],
    ["a secret value where an env name belongs", "http: { token_env: 'sk-ant 123' }\naccounts: [{ name: a, home: /a }]\n", /http\.token_env: expected an environment variable name/],
    ["a dotted dedicated session name", "accounts: [{ name: a, home: /a }]\npool: { dedicated: [{ name: ccl.1, cwd: /x }] }\n", /pool\.dedicated\[0\]\.name: expected 1–64 characters/],
    ["a dedicated session inside the pool range", "accounts: [{ name: a, home: /a }]\npool: { dedicated: [{ name: ccl-auto-12, cwd: /x }] }\n", /lies inside the pool range/],
    ["a project name with a slash", "accounts: [{ name: a, home: /a }]\nqueue: { projects: { 'a/b': /x } }\n", /queue\.projects\.a\/b: invalid key: expected \[A-Za-z0-9._-\]/],
    ["an unknown isolation", "accounts: [{ name: a, home: /a }]\nqueue: { projects: { web: { path: /w, isolation: copy } } }\n", /queue\.projects\.web/],
    ["an unknown key in a project object", "accounts: [{ name: a, home: /a }]\nqueue: { projects: { web: { path: /w, branch: x } } }\n", /queue\.projects\.web/],
    ["a max_parallel of 0", "accounts: [{ name: a, home: /a }]\nqueue: { projects: { web: { path: /w, max_parallel: 0 } } }\n", /queue\.projects\.web/],
    ["a base that reads as an option", "accounts: [{ name: a, home: /a }]\nqueue: { projects: { web: { path: /w, isolation: worktree, base: --force } } }\n", /queue\.projects\.web/],
    ["two accounts sharing a home", "accounts: [{ name: a, home: ~/h }, { name: b, home: /home/op/h }]\n", /accounts\[1\]\.home: same folder as accounts\[0\]\.home/],
    ["a home that is the claude link", "accounts: [{ name: a, home: ~/.claude }]\n", /is the claude link itself/],
    ["a wrong type", "accounts: [{ name: a, home: /a }]\ntmux: { width: wide }\n", /tmux\.width: expected number, got string/],
    ["an alias bomb", "a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\naccounts: [{ name: a, home: /a }]\n", /\(yaml\).*alias/i],
    ["a NUL byte", "accounts: []\u0000\n", /NUL/],
    ["a usage threshold over 100", "accounts: [{ name: a, home: /a }]\nquota: { usage_threshold: 120 }\n", /quota\.usage_threshold:/],
    ["a non-http URL", "accounts: [{ name: a, home: /a }]\ndelegation: { url: 'file:///etc/passwd' }\n", /delegation\.url: expected an http\(s\) URL/],
  ];
  for (const [name, text, pattern] of refused) {
    test(`refuses ${name}`, () => {
      const problems = problemsOf(text);
      assert.ok(problems.some((p) => pattern.test(p)), `no problem matched ${pattern}:\n${problems.join("\n")}`);
    });
  }

  test("a home shared through a symbolic link is refused, together with every other problem, at once", async () => {
    const dir = await tempDir("cf-homes-");
    await mkdir(path.join(dir, ".claude-main"));
    const { realpath, symlink } = await import("node:fs/promises");
    const real = path.join(await realpath(dir), ".claude-main");
    await symlink(path.join(dir, ".claude-main"), path.join(dir, "alias"));
    const file = path.join(dir, "config.yaml");
    await writeFile(file, [
      "accounts:",
      "  - { name: main, home: ./.claude-main }",
      "  - { name: other, home: ./alias }",
      "  - { name: again, home: ./.claude-main/ }",
      "  - { name: fresh, home: ./not-yet }",
      "tmux: { width: wide }",
      "",
    ].join("\n"));
    await assert.rejects(loadConfig(file, HOME), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(err.problems, [
        "tmux.width: expected number, got string",
        `accounts[1].home: same folder as accounts[0].home (${path.join(dir, "alias")} and ${path.join(dir, ".claude-main")} are both ${real})`,
        `accounts[2].home: same folder as accounts[0].home (${path.join(dir, ".claude-main")})`,
      ]);
      return true;
    });
  });

  test("ConfigError's message lists every problem and names the file", () => {
    try {
      parse("accounts: []\nx: 1\n");
      assert.fail("accepted");
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.code, "CONFIG_INVALID");
      assert.match(err.message, /\/etc\/cf\/config\.yaml/);
      assert.match(err.message, /x: unknown key/);
      assert.match(err.message, /at least one account/);
    }
  });
});

describe("config files", () => {
  test("a missing file, a folder, an oversized file and non-UTF-8 text are refused clearly", async () => {
    const dir = await tempDir("cf-config-");
    await assert.rejects(loadConfig(path.join(dir, "none.yaml")), (e: unknown) => e instanceof ConfigError && /no such file/.test(e.problems[0]!));
    await mkdir(path.join(dir, "folder.yaml"));
    await assert.rejects(loadConfig(path.join(dir, "folder.yaml")), (e: unknown) => e instanceof ConfigError && /not a regular file/.test(e.problems[0]!));
    await writeFile(path.join(dir, "big.yaml"), "#".repeat(1024 * 1024 + 1));
    await assert.rejects(loadConfig(path.join(dir, "big.yaml")), (e: unknown) => e instanceof ConfigError && /larger than the 1 MiB/.test(e.problems[0]!));
    await writeFile(path.join(dir, "latin1.yaml"), Buffer.from([0x61, 0x3a, 0x20, 0xe9, 0x0a]));
    await assert.rejects(loadConfig(path.join(dir, "latin1.yaml")), (e: unknown) => e instanceof ConfigError && /not valid UTF-8/.test(e.problems[0]!));
  });

  test("relative paths are taken from the config file's folder", async () => {
    const dir = await tempDir("cf-config-");
    const file = path.join(dir, "c.yaml");
    await writeFile(file, "state_dir: state\naccounts: [{ name: a, home: homes/a }]\n");
    const c = await loadConfig(file);
    assert.equal(c.state_dir, path.join(dir, "state"));
    assert.equal(c.accounts[0]!.home, path.join(dir, "homes/a"));
  });

  test("the config path comes from --config, then CLAUDE_FAILOVER_CONFIG, then the default", () => {
    assert.equal(resolveConfigPath("/a.yaml", { CLAUDE_FAILOVER_CONFIG: "/b.yaml" }), "/a.yaml");
    assert.equal(resolveConfigPath(undefined, { CLAUDE_FAILOVER_CONFIG: "/b.yaml" }), "/b.yaml");
    assert.equal(resolveConfigPath(undefined, {}), "/etc/claude-failover/config.yaml");
  });

  test("~ expands only at the start", () => {
    assert.equal(expandPath("~", "/x", "/h"), "/h");
    assert.equal(expandPath("~/a", "/x", "/h"), "/h/a");
    assert.equal(expandPath("a~/b", "/x", "/h"), "/x/a~/b");
  });
});

describe("pool names", () => {
  const pool = { prefix: "ccl-auto-", start_index: 11, max: 10 };
  test("the pool is exactly [start_index, start_index+max)", () => {
    assert.deepEqual(poolSessionNames(pool), Array.from({ length: 10 }, (_, i) => `ccl-auto-${11 + i}`));
  });
  const cases: [string, number | undefined][] = [
    ["ccl-auto-11", 11], ["ccl-auto-20", 20], ["ccl-auto-10", undefined], ["ccl-auto-21", undefined],
    ["ccl-auto-011", undefined], ["ccl-auto-1", undefined], ["ccl-1", undefined], ["ccl-auto11", undefined], ["ccl-auto-1x", undefined],
  ];
  for (const [name, index] of cases) {
    test(`${name} → ${String(index)}`, () => assert.equal(poolIndexOf(name, pool), index));
  }
});
