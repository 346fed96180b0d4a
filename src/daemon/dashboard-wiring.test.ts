import { test } from "node:test";
import assert from "node:assert/strict";
import { parseConfigText } from "../config/loader.js";
import { FakeClock } from "../lib/test-clock.js";
import { silentLogger } from "../lib/logger.js";
import { tempDir } from "../lib/test-temp.js";
import { SessionRegistry } from "../pool/registry.js";
import { EventLog } from "../state/event-log.js";
import { FakeTmuxClient } from "../tmux/fake.js";
import type { DaemonStatus } from "./status-view.js";
import { buildDashboardFeed } from "./dashboard-wiring.js";

test("a screen snapshot masks the value of every variable the config reads a secret from, and the plain agent env", async () => {
  const config = parseConfigText(`
http: { token_env: CF_HTTP_TOKEN }
notifications: { telegram: { bot_token_env: CF_TG }, email: { api_key_env: CF_RESEND } }
claude: { env: { CLAUDE_PLAIN: claude-plain-value } }
accounts:
  - { name: a, home: /h/a, env: { ACCOUNT_PLAIN: account-plain-value }, env_from: { ANTHROPIC_API_KEY: KEY_A } }
`, "/etc/cf/config.yaml", "/home/op");
  const env = {
    CF_HTTP_TOKEN: "http-token-value", CF_TG: "telegram-token-value", CF_RESEND: "resend-key-value", KEY_A: "account-key-value",
    CCL_SECUTOOLS_API_KEY: "job-key-value", SECUTOOLS_API_KEY: "job-key-fallback", PATH: "/usr/bin:/bin",
  };
  const clock = new FakeClock();
  const events = new EventLog({ dir: await tempDir("cf-dash-wiring-"), clock });
  const tmux = new FakeTmuxClient();
  const registry = new SessionRegistry(() => clock.now());
  const screen = [...Object.values(env), "claude-plain-value", "account-plain-value"].join(" ");
  tmux.addForeign("cf-pool-1", [screen]);
  registry.set("cf-pool-1", "pool", "/tmp", "idle");
  const feed = buildDashboardFeed({
    config, env, clock, log: silentLogger(), events, token: env.CF_HTTP_TOKEN, registry, tmux,
    statusView: () => ({}) as DaemonStatus, work: () => undefined, ledger: () => undefined, persistHold: () => undefined,
    noAccount: () => false, delegation: () => undefined,
  });
  try {
    const shown = await feed.screen("cf-pool-1");
    assert.equal(shown, `${Array(6).fill("[redacted]").join(" ")} /usr/bin:/bin [redacted] [redacted]\n`);
  } finally {
    await feed.stop();
    await events.close();
  }
});
