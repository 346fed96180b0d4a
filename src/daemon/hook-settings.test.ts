import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { hookSettings } from "../claude/launch.js";
import { AUTO_CONTINUE_SETTING, selfCommand, writeDaemonHookSettings } from "./hook-settings.js";

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

test("the settings file is replaced whole, with mode 0600, and keeps continue-at-reset off whatever program runs the hooks", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "cf-hook-settings-"));
  try {
    const stateDir = path.join(dir, "state");
    await writeDaemonHookSettings(stateDir, "http://127.0.0.1:1");
    // A harness's own build of the hook client (the bench's compiled CLI, or `true` for no hooks at all).
    const file = await writeDaemonHookSettings(stateDir, "http://127.0.0.1:2", ["true"]);
    const written = JSON.parse(await readFile(file, "utf8")) as unknown;
    assert.deepEqual(written, { ...hookSettings(["true", "hook", "--url", "http://127.0.0.1:2", "--state-dir", stateDir]), [AUTO_CONTINUE_SETTING]: false });
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const own = JSON.parse(await readFile(await writeDaemonHookSettings(stateDir, "http://127.0.0.1:3"), "utf8")) as unknown;
    assert.deepEqual(own, { ...hookSettings([...selfCommand(), "hook", "--url", "http://127.0.0.1:3", "--state-dir", stateDir]), [AUTO_CONTINUE_SETTING]: false });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
