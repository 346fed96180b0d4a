/**
 * The oldest supported Claude Code (2.1.197), installed at test time into a cache (npm registry
 * only), under the daemon: a task done, then a usage limit on main → swap → the task done on backup.
 * Short on purpose: the full tier runs against the pinned current CLI.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { Daemon } from "../../src/daemon/daemon.js";
import { ensureClaude, OLDEST_SUPPORTED } from "../support/claude-install.js";
import { startSandboxDaemon, type ClaudeSandbox } from "../support/claude-sandbox.js";
import { until } from "../support/until.js";

let sb: ClaudeSandbox;
let daemon: Daemon;
before(async () => {
  const { bin } = await ensureClaude(OLDEST_SUPPORTED);
  const { stdout } = await promisify(execFile)(bin, ["--version"], { timeout: 20_000, env: { ...process.env, DISABLE_AUTOUPDATER: "1" } });
  assert.match(stdout, new RegExp(`^${OLDEST_SUPPORTED.replace(/\./g, "\\.")}\\b`));
  ({ sb, daemon } = await startSandboxDaemon({
    label: "old", projects: ["p"], pool: { min: 1, max: 1 }, claudeBin: bin,
    config: { quota: { poll_interval: "1s", confirm_polls: 2, reactivate_cooldown: "1s", usage_api: false } },
  }));
});
after(async () => {
  await daemon?.stop();
  await sb?.close();
});

test(`Claude Code ${OLDEST_SUPPORTED} (oldest supported): a task done; a limit on main swaps to backup and the task is done there`, async () => {
  const evidence = { explain: () => sb.evidence(["old-1"]) };
  await sb.drop("p", "plain.md", "TOKEN-OLD-PLAIN an ordinary task\n");
  await until("plain.md in done/", async () => ((await sb.files("p", "done")).includes("plain.md") ? true : undefined), 90_000, evidence);
  sb.api.exhaust("token-main", Math.floor(Date.now() / 1000) + 3 * 3600);
  await sb.drop("p", "wall.md", "TOKEN-OLD-WALL the task that meets the wall\n");
  await until("wall.md in done/", async () => ((await sb.files("p", "done")).includes("wall.md") ? true : undefined), 120_000, evidence);
  const text = await sb.read("p", "done", "wall.md");
  assert.match(text, /^account: backup$/m);
  assert.match(text, /^attempts: 1$/m);
  assert.deepEqual(await sb.files("p", "failed"), []);
});
