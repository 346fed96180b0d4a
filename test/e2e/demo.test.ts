/**
 * The README's main job, as a newcomer runs it: `npm run demo` (here with --exit-when-done so it ends
 * by itself). Every sample task is filed, account main meets its usage limit and the work moves to
 * backup, and the demo leaves nothing behind: no sandbox folder, no tmux server.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { access } from "node:fs/promises";
import { CliTmuxClient } from "../../src/tmux/cli-client.js";
import { REPO } from "../support/claude-sandbox.js";

test("npm run demo: every task filed, a swap to backup, then the sandbox and its tmux server are gone", async (t) => {
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/demo.ts", "--exit-when-done"], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString("utf8")));
  child.stderr.on("data", (c: Buffer) => (out += c.toString("utf8")));
  // The demo gives up by itself after 4 minutes; this only guards against a hang past that.
  const killer = setTimeout(() => child.kill("SIGTERM"), 270_000);
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  clearTimeout(killer);
  t.diagnostic(out.split("\n").filter((l) => /tasks filed|^swap main/.test(l)).join(" · "));
  assert.equal(code, 0, out);
  assert.match(out, /all 7 tasks filed in [\d.]+ s/);
  assert.match(out, /^dashboard: +http:\/\/127\.0\.0\.1:\d+\/ /m, "the demo prints the dashboard's URL");
  assert.match(out, /queue\/beta\/failed\/broken\.md/);
  assert.match(out, /queue\/beta\/done\/limit\.md/);
  assert.match(out, /swap main → backup at .*: usage limit on main/);
  assert.match(out, /demo stopped: daemon stopped, private tmux server killed, sandbox removed\./);
  const sandbox = /^sandbox: +(\S+)$/m.exec(out)?.[1] ?? assert.fail(`no sandbox line in:\n${out}`);
  const socket = /tmux -L (\S+) attach/.exec(out)?.[1] ?? assert.fail(`no tmux socket in:\n${out}`);
  await assert.rejects(access(sandbox), "the sandbox folder is removed");
  assert.equal(await new CliTmuxClient({ socket }).hasSession("demo-1").catch(() => false), false, "the demo's tmux server is gone");
});
