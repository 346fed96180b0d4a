import { describe, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { loadConfig } from "../config/loader.js";
import { FakeClock } from "../lib/test-clock.js";
import { silentLogger } from "../lib/logger.js";
import { FakeTmuxClient } from "../tmux/fake.js";
import { makeSandbox } from "../../test/support/sandbox.js";
import { Daemon, StartupError } from "./daemon.js";
import { runDoctor } from "./doctor.js";

describe("start-up checks", () => {
  test("an env_from naming an unset variable refuses the start with its key path, listed with the other problems; doctor says the same", async () => {
    const sb = await makeSandbox();
    try {
      const config = await loadConfig(await sb.writeConfig({
        accounts: [
          { name: "main", home: path.join(sb.home, ".claude-main"), env_from: { CLAUDE_CODE_OAUTH_TOKEN: "CF_TEST_MAIN_TOKEN" } },
          { name: "backup", home: path.join(sb.home, ".claude-backup"), env_from: { ANTHROPIC_API_KEY: "CF_TEST_BACKUP_KEY" } },
          { name: "ghost", home: path.join(sb.home, ".claude-ghost") },
        ],
      }));
      const env = { CF_TEST_MAIN_TOKEN: "set", CF_TEST_BACKUP_KEY: "" };
      const tmux = new FakeTmuxClient();
      const d = new Daemon({ config, log: silentLogger(), clock: new FakeClock(), tmux, env, listen: "127.0.0.1:0" });
      await assert.rejects(d.start(), (e: unknown) => {
        assert.ok(e instanceof StartupError);
        assert.deepEqual(e.problems.filter((p) => p.includes("env_from")), [
          "accounts[1].env_from.ANTHROPIC_API_KEY: names CF_TEST_BACKUP_KEY, which is not set in the daemon's environment (account backup)",
        ]);
        assert.ok(e.problems.some((p) => /\.claude-ghost \[home-missing\]/.test(p)), "all problems at once");
        return true;
      });
      assert.deepEqual(tmux.touched("new-session"), []);
      const findings = await runDoctor(config, { env, now: () => Date.now(), run: async () => "tmux 3.3a" });
      assert.ok(findings.some((f) => !f.ok && f.message.startsWith("accounts[1].env_from.ANTHROPIC_API_KEY: names CF_TEST_BACKUP_KEY")));
    } finally {
      await sb.close();
    }
  });
});
