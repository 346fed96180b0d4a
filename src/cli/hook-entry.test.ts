import { test } from "node:test";
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { PassThrough, Readable } from "node:stream";
import { runHookEntry } from "./hook-entry.js";
import { tempDir } from "../lib/test-temp.js";

test("hook: a dead daemon means the payload is spooled, nothing on stdout, exit 0", async () => {
  const stateDir = await tempDir("cf-hook-");
  const stdout = new PassThrough();
  let out = "";
  stdout.on("data", (b: Buffer) => (out += b.toString()));
  const code = await runHookEntry(["--url", "http://127.0.0.1:9", "--state-dir", stateDir, "Stop"], {
    stdout, stderr: new PassThrough(), env: {},
    stdin: Readable.from([JSON.stringify({ session_id: "0b9c3f4e-5d6a-4b7c-8d9e-0f1a2b3c4d5e", hook_event_name: "Stop", last_assistant_message: "hi" })]),
  });
  assert.equal(code, 0);
  assert.equal(out, "");
  assert.equal((await readdir(path.join(stateDir, "hook-spool"))).filter((f) => f.endsWith(".json")).length, 1);
});

test("hook: garbage on stdin still exits 0", async () => {
  const stateDir = await tempDir("cf-hook-");
  const code = await runHookEntry(["Stop", "--state-dir", stateDir, "--url", "http://127.0.0.1:9"], {
    stdout: new PassThrough(), stderr: new PassThrough(), env: {}, stdin: Readable.from([Buffer.from([0xff, 0x00, 0x7b])]),
  });
  assert.equal(code, 0);
});
