/**
 * Real tmux on a private socket: the daemon's secrets never reach a pane through tmux's environment,
 * whether the daemon starts the server or finds one an earlier daemon started with them.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { loadConfig } from "../config/loader.js";
import { FakeClock } from "../lib/test-clock.js";
import { silentLogger } from "../lib/logger.js";
import { CliTmuxClient } from "../tmux/cli-client.js";
import { privateTmux } from "../../test/support/tmux-server.js";
import { makeSandbox, type Sandbox } from "../../test/support/sandbox.js";
import { until } from "../../test/support/until.js";
import { Daemon } from "./daemon.js";

const SECRETS = { CF_TEST_OTHER_KEY: "sk-other-account-7f3a9c", CF_TEST_HTTP_TOKEN: "http-token-51b2e8", TELEGRAM_BOT_TOKEN: "tg-token-0c4d6e", CCL_SECUTOOLS_API_KEY: "job-key-9e1f2a" };
const env = { ...process.env, ...SECRETS, CF_TEST_PLAIN: "plain-visible" };

async function configFor(sb: Sandbox) {
  return loadConfig(await sb.writeConfig({
    http: { listen: "127.0.0.1:0", token_env: "CF_TEST_HTTP_TOKEN" },
    accounts: [
      { name: "main", home: path.join(sb.home, ".claude-main") },
      { name: "backup", home: path.join(sb.home, ".claude-backup"), env_from: { ANTHROPIC_API_KEY: "CF_TEST_OTHER_KEY" } },
    ],
  }));
}

/** What a new pane's environment holds: a session that prints it and waits. */
async function paneEnv(client: CliTmuxClient, name: string, cwd: string): Promise<string> {
  await client.newSession({ name, cwd, command: ["sh", "-c", "env; echo END-OF-ENV; exec cat"] });
  let last = "";
  return until(`${name} to print its environment`, async () => {
    last = await client.capturePane(name, { history: 5000 });
    return last.includes("END-OF-ENV") ? last : undefined;
  }, 15_000, { everyMs: 20, explain: () => last });
}

/** Whether tmux's global environment holds `name` (show-environment answers "unknown variable" otherwise). */
async function inGlobalEnv(client: CliTmuxClient, name: string): Promise<boolean> {
  const r = await client.run(["show-environment", "-g", name], { allowFailure: true });
  if (r.exitCode !== 0) assert.match(r.stderr, /unknown variable/);
  return r.exitCode === 0;
}

function assertNoSecret(screen: string): void {
  for (const [name, value] of Object.entries(SECRETS)) assert.ok(!screen.includes(value), `${name}'s value reached the pane`);
  assert.match(screen, /CF_TEST_PLAIN=plain-visible/, "the rest of the daemon's environment does reach the pane");
}

describe("secrets and tmux's environment", () => {
  test("the tmux server the daemon starts holds none of the daemon's secrets, only the rest of its environment", async () => {
    const tmux = privateTmux("secrets");
    const sb = await makeSandbox({ socket: tmux.socket });
    // In the process's own environment, as systemd's EnvironmentFile puts them: the daemon's default.
    const saved = { ...process.env };
    Object.assign(process.env, env);
    const daemon = new Daemon({ config: await configFor(sb), log: silentLogger(), clock: new FakeClock(), listen: "127.0.0.1:0" });
    try {
      await daemon.start();
      assert.ok((await tmux.client.listSessions()).length > 0, "the daemon started the server (its pool)");
      for (const name of Object.keys(SECRETS)) assert.equal(await inGlobalEnv(tmux.client, name), false, name);
      assert.equal(await inGlobalEnv(tmux.client, "CF_TEST_PLAIN"), true);
      assertNoSecret(await paneEnv(tmux.client, "cf-env", sb.dir));
    } finally {
      await daemon.stop();
      await tmux.close();
      await sb.close();
      for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
    }
  });

  test("a server an earlier daemon started with the secrets loses them at start: new panes do not see them", async () => {
    const tmux = privateTmux("secrets-old");
    const sb = await makeSandbox({ socket: tmux.socket });
    const daemon = new Daemon({ config: await configFor(sb), log: silentLogger(), clock: new FakeClock(), env, listen: "127.0.0.1:0" });
    try {
      const leaky = new CliTmuxClient({ socket: tmux.socket, env, timeoutMs: 10_000 });
      await leaky.newSession({ name: "cf-earlier", cwd: sb.dir, command: ["cat"] });
      assert.equal(await inGlobalEnv(tmux.client, "CF_TEST_OTHER_KEY"), true, "the server holds the secret before the start");
      await daemon.start();
      for (const name of Object.keys(SECRETS)) assert.equal(await inGlobalEnv(tmux.client, name), false, name);
      assertNoSecret(await paneEnv(tmux.client, "cf-env", sb.dir));
    } finally {
      await daemon.stop();
      await tmux.close();
      await sb.close();
    }
  });
});
