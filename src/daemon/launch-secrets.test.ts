/**
 * An account's secrets through the running daemon (fake tmux, fake Claude, the real work loop): the
 * values of `accounts[].env` and `env_from` are never typed into a session; they go through a private
 * env file, and env files a crash left behind are removed at start.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { LAUNCH_ENV_DIR } from "../claude/launch-env.js";
import { loadConfig } from "../config/loader.js";
import { silentLogger } from "../lib/logger.js";
import { FakeTmuxClient } from "../tmux/fake.js";
import { FakeClaude } from "../dispatch/test-fake-claude.js";
import { makeSandbox } from "../../test/support/sandbox.js";
import { submitTask } from "../queue/submit.js";
import { Daemon } from "./daemon.js";

const TOKEN = "sk-ant-oat01-FROM-ENV-FROM-0123456789";
const KEY = "sk-ant-api03-IN-ACCOUNT-ENV-9876543210";

test("account secrets reach the launch through a private file, never a typed line; stale env files are cleared at start", async () => {
  const sb = await makeSandbox();
  let daemon: Daemon | undefined;
  try {
    const root = path.join(sb.dir, "queue");
    const stateDir = path.join(sb.dir, "state");
    const config = await loadConfig(await sb.writeConfig({
      queue: { root, projects: { web: sb.dir }, rescan_interval: "1s" },
      watcher: { poll_interval: "100ms", idle_confirm: 2 },
      pool: { autonomous: { prefix: "cf-pool-", start_index: 1, min: 1, max: 1, cwd: sb.dir } },
      quota: { usage_api: false },
      accounts: [
        { name: "main", home: path.join(sb.home, ".claude-main"), env: { ANTHROPIC_API_KEY: KEY }, env_from: { CLAUDE_CODE_OAUTH_TOKEN: "CF_TEST_TOKEN" } },
        { name: "backup", home: path.join(sb.home, ".claude-backup") },
      ],
    }));
    // Left by a crash between writing an env file and the shell running it.
    await mkdir(path.join(stateDir, LAUNCH_ENV_DIR), { recursive: true, mode: 0o700 });
    await writeFile(path.join(stateDir, LAUNCH_ENV_DIR, "stale.sh"), `export CLAUDE_CODE_OAUTH_TOKEN='${TOKEN}'\n`, { mode: 0o600 });
    const tmux = new FakeTmuxClient();
    const fake = new FakeClaude({ emit: (e) => daemon?.hooks.record(e, Date.now()) });
    tmux.programFor = () => fake.program;
    daemon = new Daemon({ config, log: silentLogger(), tmux, listen: "127.0.0.1:0", env: { CF_TEST_TOKEN: TOKEN } });
    await daemon.start();
    assert.deepEqual(await readdir(path.join(stateDir, LAUNCH_ENV_DIR)), [], "the stale env file is gone at start");

    await submitTask(root, "web", "Fix the bug.\n", { sourceName: "job.md" });
    for (const deadline = Date.now() + 20_000; (await readdir(path.join(root, "web", "done")).catch(() => [])).length === 0;) {
      if (Date.now() > deadline) assert.fail("the task never reached done/");
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(fake.launches.length, 1);
    const line = fake.launches[0]!.line;
    assert.match(line, new RegExp(`CLAUDE_CONFIG_DIR=\\S+ (?:IS_SANDBOX=1 )?/bin/sh ${path.join(stateDir, LAUNCH_ENV_DIR)}/[0-9a-f]+\\.sh `));
    const typed = tmux.calls.filter((c) => c.text !== undefined).map((c) => c.text!).join("\n");
    for (const secret of [TOKEN, KEY]) assert.equal(typed.includes(secret), false, "a secret was typed into a session");
    assert.deepEqual(await readdir(path.join(stateDir, LAUNCH_ENV_DIR)), [], "no env file outlives its launch");
  } finally {
    await daemon?.stop();
    await sb.close();
  }
});
