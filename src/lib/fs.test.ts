import assert from "node:assert/strict";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, test } from "node:test";
import { isDirectory } from "./fs.js";
import { tempDir } from "./test-temp.js";

describe("isDirectory", () => {
  test("a folder is one; a file, nothing or a dangling link is not", async () => {
    const dir = await tempDir("cf-isdir-");
    await writeFile(path.join(dir, "f"), "x");
    await symlink(path.join(dir, "gone"), path.join(dir, "dangling"));
    assert.equal(await isDirectory(dir), true);
    assert.equal(await isDirectory(path.join(dir, "f")), false);
    assert.equal(await isDirectory(path.join(dir, "missing")), false);
    assert.equal(await isDirectory(path.join(dir, "dangling"), { followLinks: true }), false);
  });

  test("a link to a folder counts only when links are followed", async () => {
    const dir = await tempDir("cf-isdir-");
    await mkdir(path.join(dir, "real"));
    await symlink(path.join(dir, "real"), path.join(dir, "link"));
    assert.equal(await isDirectory(path.join(dir, "link")), false);
    assert.equal(await isDirectory(path.join(dir, "link"), { followLinks: true }), true);
  });
});
