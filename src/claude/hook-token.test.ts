import assert from "node:assert/strict";
import { stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { tempDir } from "../lib/test-temp.js";
import { readHookToken, writeHookToken } from "./hook-token.js";

test("hook token: written 0600 and read back trimmed; no token removes the file; none or blank reads as undefined", async () => {
  const dir = await tempDir("cf-hook-token-");
  assert.equal(await readHookToken(dir), undefined);
  await writeHookToken(dir, "tok-1");
  assert.equal((await stat(path.join(dir, "hook-token"))).mode & 0o777, 0o600);
  assert.equal(await readHookToken(dir), "tok-1");
  await writeFile(path.join(dir, "hook-token"), "  tok-2\n");
  assert.equal(await readHookToken(dir), "tok-2");
  await writeFile(path.join(dir, "hook-token"), " \n");
  assert.equal(await readHookToken(dir), undefined);
  await writeHookToken(dir, undefined);
  await assert.rejects(stat(path.join(dir, "hook-token")), { code: "ENOENT" });
});
