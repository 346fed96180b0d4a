import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { appendFile, copyFile, mkdir, readFile, symlink, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { FIXTURE_DIR } from "../claude/test-screens.js";
import { tempDir } from "../lib/test-temp.js";
import { TranscriptWatch } from "./transcript-watch.js";

const SAMPLES = path.join(FIXTURE_DIR, "transcript-samples.jsonl");

describe("TranscriptWatch", () => {
  test("a transcript is read when it changed, not again while it stays the same", async () => {
    const dir = await tempDir("cf-twatch-");
    const file = path.join(dir, "t.jsonl");
    await copyFile(SAMPLES, file);
    const watch = new TranscriptWatch();
    const first = await watch.errorsIfChanged(file);
    assert.ok(first !== null && first.some((l) => l.usageLimit), "the sample's weekly limit line is there");
    assert.equal(await watch.errorsIfChanged(file), null, "unchanged: not read again");
    await appendFile(file, `${JSON.stringify({ type: "user", uuid: "u-later", timestamp: "2026-11-27T10:00:00.000Z", message: { role: "user", content: "more" } })}\n`);
    assert.deepEqual((await watch.errorsIfChanged(file))?.length, first.length, "changed: read again, the same error lines");
  });

  test("missing, a folder, half-written or binary: null or no lines, never a throw", async () => {
    const dir = await tempDir("cf-twatch-");
    const watch = new TranscriptWatch();
    assert.equal(await watch.errorsIfChanged(path.join(dir, "none.jsonl")), null);
    await mkdir(path.join(dir, "folder.jsonl"));
    assert.equal(await watch.errorsIfChanged(path.join(dir, "folder.jsonl")), null);
    const half = path.join(dir, "half.jsonl");
    const text = await readFile(SAMPLES, "utf8");
    await writeFile(half, text.slice(0, Math.floor(text.length / 2)));
    const lines = await watch.errorsIfChanged(half);
    assert.ok(Array.isArray(lines), "what is whole is read; the cut line is left for the next change");
    const junk = path.join(dir, "junk.jsonl");
    await writeFile(junk, Buffer.from([0, 255, 254, 10, 123, 10, 0]));
    assert.deepEqual(await watch.errorsIfChanged(junk), []);
    // A symlink to a transcript is followed like the file (the shared projects folder is a link).
    await symlink(SAMPLES, path.join(dir, "link.jsonl"));
    assert.ok(((await watch.errorsIfChanged(path.join(dir, "link.jsonl"))) ?? []).length > 0);
  });

  test("the same size rewritten later is read again (time is part of the mark)", async () => {
    const dir = await tempDir("cf-twatch-");
    const file = path.join(dir, "t.jsonl");
    await copyFile(SAMPLES, file);
    const watch = new TranscriptWatch();
    assert.notEqual(await watch.errorsIfChanged(file), null);
    const later = new Date(Date.now() + 60_000);
    await utimes(file, later, later);
    assert.notEqual(await watch.errorsIfChanged(file), null);
  });
});
