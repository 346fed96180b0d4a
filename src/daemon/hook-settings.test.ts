import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { AUTO_CONTINUE_SETTING, writeDaemonHookSettings } from "./hook-settings.js";

test("the managed agents' settings file turns Claude Code's own continue-at-reset off and carries the hooks", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "cf-hook-settings-"));
  try {
    const file = await writeDaemonHookSettings(path.join(dir, "state"), "http://127.0.0.1:1");
    const json = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown> & { hooks: Record<string, unknown[]> };
    // One continuation per interrupted task: the daemon's, never a second one from the CLI.
    assert.equal(json[AUTO_CONTINUE_SETTING], false);
    assert.equal(AUTO_CONTINUE_SETTING, "autoContinueAtUsageLimit");
    assert.ok(json.hooks.StopFailure?.length && json.hooks.Stop?.length);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
