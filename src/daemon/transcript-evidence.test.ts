import assert from "node:assert/strict";
import { mkdir, realpath, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, test } from "node:test";
import { TranscriptError, transcriptPath, type TranscriptSummary } from "../claude/transcripts.js";
import type { AccountConfig } from "../config/schema.js";
import { silentLogger } from "../lib/logger.js";
import { tempDir } from "../lib/test-temp.js";
import { transcriptEvidence } from "./transcript-evidence.js";

const ID = "0b9c3f4e-5d6a-4b7c-8d9e-0f1a2b3c4d5e";
const accountsAt = (home: string) => [{ name: "main", home, env: {}, env_from: {} }] as unknown as AccountConfig[];
const prompt = JSON.stringify({ type: "user", uuid: "u1", message: { role: "user", content: "do it" } });

describe("transcriptEvidence.promptDelivered", () => {
  test("no file yet, or no prompt line yet, is 'not delivered'; a prompt line is 'delivered'", async () => {
    const home = await tempDir("cf-transcript-");
    const e = transcriptEvidence({ accounts: accountsAt(home), log: silentLogger() });
    assert.equal(await e.promptDelivered("main", "/work/p", ID), false);
    const file = transcriptPath(home, "/work/p", ID);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, '{"type":"user","message":{"role":"us');
    assert.equal(await e.promptDelivered("main", "/work/p", ID), false, "a half-written line is not there yet");
    await writeFile(file, `${prompt}\n`);
    assert.equal(await e.promptDelivered("main", "/work/p", ID), true);
  });

  test("a transcript that cannot be read is 'unknown', never 'not delivered'", async () => {
    const home = await tempDir("cf-transcript-");
    const file = transcriptPath(home, "/work/p", ID);
    await mkdir(file, { recursive: true }); // a folder where the file should be: not a regular file
    const e = transcriptEvidence({ accounts: accountsAt(home), log: silentLogger() });
    assert.equal(await e.promptDelivered("main", "/work/p", ID), "unknown");
    assert.equal(await e.lastMessage("main", "/work/p", ID), undefined);
  });

  test("an I/O error from the read is 'unknown'; only TRANSCRIPT_NOT_FOUND is 'not there'", async () => {
    const fail = (err: Error) => transcriptEvidence({ accounts: accountsAt("/h"), log: silentLogger(), read: async () => { throw err; } });
    assert.equal(await fail(new TranscriptError("TRANSCRIPT_UNREADABLE", "EIO")).promptDelivered("main", "/w", ID), "unknown");
    assert.equal(await fail(Object.assign(new Error("EACCES"), { code: "EACCES" })).promptDelivered("main", "/w", ID), "unknown");
    assert.equal(await fail(new TranscriptError("TRANSCRIPT_NOT_FOUND", "none")).promptDelivered("main", "/w", ID), false);
  });

  test("no prompt found but lines were skipped as malformed: 'unknown'", async () => {
    const summary = { apiErrors: [], usage: { inputTokens: 0, outputTokens: 0, cacheCreationInputTokens: 0, cacheReadInputTokens: 0, responses: 0 },
      entries: 0, malformedLines: 3, oversizedLines: 0, partialLastLine: false, fileSize: 90, windowStart: 0 } satisfies TranscriptSummary;
    const e = transcriptEvidence({ accounts: accountsAt("/h"), log: silentLogger(), read: async () => summary });
    assert.equal(await e.promptDelivered("main", "/w", ID), "unknown");
  });

  test("a record naming an account no longer configured reads the first account's transcript", async () => {
    const home = await tempDir("cf-transcript-");
    const file = transcriptPath(home, "/work/p", ID);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, `${prompt}\n`);
    const e = transcriptEvidence({ accounts: accountsAt(home), log: silentLogger() });
    assert.equal(await e.promptDelivered("gone", "/work/p", ID), true);
  });

  test("a project reached through a symlink: the transcript is found under the physical path, where Claude Code writes it", async () => {
    const dir = await realpath(await tempDir("cf-transcript-"));
    const home = path.join(dir, "home");
    await mkdir(path.join(dir, "real-proj"));
    await symlink("real-proj", path.join(dir, "link-to-proj"));
    const file = transcriptPath(home, path.join(dir, "real-proj"), ID);
    await mkdir(path.dirname(file), { recursive: true });
    const reply = JSON.stringify({ type: "assistant", uuid: "a1", message: { id: "m1", role: "assistant", content: [{ type: "text", text: "done" }] } });
    await writeFile(file, `${prompt}\n${reply}\n`);
    const e = transcriptEvidence({ accounts: accountsAt(home), log: silentLogger() });
    assert.equal(await e.promptDelivered("main", path.join(dir, "link-to-proj"), ID), true);
    assert.equal(await e.lastMessage("main", path.join(dir, "link-to-proj"), ID), "done");
  });
});
