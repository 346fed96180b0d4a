import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { appendFile, mkdir, mkdtemp, realpath, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { locateTranscript, projectDir, readTranscript, sanitizeProjectPath, TranscriptError, transcriptPath } from "./transcripts.js";

const SID = "1e11f503-6094-4b05-8d94-9d2f3998bcd1";
const roots: string[] = [];
after(async () => {
  for (const r of roots) await rm(r, { recursive: true, force: true });
});
async function tmp(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "cf-transcript-"));
  roots.push(dir);
  return dir;
}

// Lines shaped as Claude Code 2.1.197 wrote them (from fixtures/claude-code/transcript-samples.jsonl, trimmed).
const common = { isSidechain: false, userType: "external", entrypoint: "cli", cwd: "/home/ops/agents/proj", sessionId: SID, version: "2.1.197", gitBranch: "HEAD" };
const usage = (input: number, output: number) => ({
  input_tokens: input, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: output,
  server_tool_use: { web_search_requests: 0, web_fetch_requests: 0 }, service_tier: "standard",
});
const L = {
  mode: { type: "mode", mode: "normal", sessionId: SID },
  snapshot: { type: "file-history-snapshot", messageId: "0ae8", snapshot: { messageId: "0ae8", trackedFileBackups: {}, timestamp: "2026-11-26T22:50:40.248Z" }, isSnapshotUpdate: false },
  prompt: (text: string, uuid = "0ae88260-ba05-48c3-8a16-eaf27666e2ed") => ({
    ...common, parentUuid: null, promptId: "3fdb", type: "user", message: { role: "user", content: text }, uuid, timestamp: "2026-11-26T22:50:40.192Z", permissionMode: "default",
  }),
  title: { type: "ai-title", aiTitle: "Mock session title", sessionId: SID },
  text: (text: string, id = "msg_mock3f290bc209f0fce42c0228c1", requestId = "req_mock49bd68c55bc254d78e0d7886", u = usage(1200, 9)) => ({
    ...common, parentUuid: "8434", type: "assistant", uuid: `u-${id}-${text.length}`, timestamp: "2026-11-26T22:50:40.802Z", requestId,
    message: { id, type: "message", role: "assistant", model: "claude-opus-4-8", content: [{ type: "text", text }], stop_reason: "end_turn", stop_sequence: null, usage: u },
  }),
  toolUse: {
    ...common, parentUuid: "a466", type: "assistant", uuid: "1af5bd5d", timestamp: "2026-11-26T22:36:28.299Z", requestId: "req_mock07bb5c88acf074efb551b974",
    message: { id: "msg_mock577bba373cd8356f955d6edf", type: "message", role: "assistant", model: "claude-opus-4-8", stop_reason: "tool_use", usage: usage(1200, 36),
      content: [{ type: "tool_use", id: "toolu_mock94b7", name: "Bash", input: { command: "touch /home/ops/agents/done.flag", description: "Create done.flag" } }] },
  },
  toolResult: {
    ...common, parentUuid: "1af5bd5d", type: "user", uuid: "2a2c6ed5", timestamp: "2026-11-26T22:36:41.100Z",
    message: { role: "user", content: [{ tool_use_id: "toolu_mock94b7", type: "tool_result", content: "(Bash completed with no output)", is_error: false }] },
    toolUseResult: { stdout: "", stderr: "", interrupted: false },
  },
  stopSummary: { ...common, type: "system", subtype: "stop_hook_summary", hookCount: 1, hookInfos: [{ command: "/home/ops/agents/hook.sh Stop", durationMs: 38 }], hookErrors: [], uuid: "3f22" },
  apiError: (text: string, error: string, status: number, id = "b54fdfe4-896d-42c4-97c7-e56f9bb83877") => ({
    ...common, parentUuid: "25c5", type: "assistant", uuid: `err-${id}`, timestamp: "2026-11-26T22:41:33.685Z", requestId: "req_mock8edcda03abff8f806b117e6a",
    message: { id, container: null, model: "<synthetic>", role: "assistant", stop_reason: "stop_sequence", stop_sequence: "", type: "message", usage: usage(0, 0), content: [{ type: "text", text }], context_management: null },
    error, isApiErrorMessage: true, apiErrorStatus: status,
  }),
  lastPrompt: { type: "last-prompt", lastPrompt: "MOCK_DELAY=300 turn 3", leafUuid: "faa0", sessionId: SID },
  queue: { type: "queue-operation", operation: "enqueue", timestamp: "2026-11-26T22:45:26.177Z", sessionId: SID, content: "queued follow-up message" },
};
const jsonl = (...entries: unknown[]): string => entries.map((e) => (typeof e === "string" ? e : JSON.stringify(e))).join("\n") + "\n";

async function transcript(content: string): Promise<string> {
  const file = path.join(await tmp(), `${SID}.jsonl`);
  await writeFile(file, content);
  return file;
}

describe("sanitizeProjectPath", () => {
  const cases: [string, string][] = [
    ["/home/ops/agents/proj", "-home-ops-agents-proj"],
    ["/tmp/a_b.c d", "-tmp-a-b-c-d"],
    ["/home/ops/.claude", "-home-ops--claude"],
    ["/tmp/café", "-tmp-caf-"],
    // A character outside the BMP is two UTF-16 code units, so two dashes (as in Claude Code, a regex without /u).
    ["/tmp/x😀", "-tmp-x--"],
    ["", ""],
  ];
  for (const [input, expected] of cases) test(`${JSON.stringify(input)} → ${JSON.stringify(expected)}`, () => assert.equal(sanitizeProjectPath(input), expected));

  test("200 characters are kept whole", () => {
    const p = `/${"a".repeat(199)}`;
    assert.equal(sanitizeProjectPath(p), `-${"a".repeat(199)}`);
  });

  test("longer names are cut at 200 and get the base-36 |djb2| of the original path", () => {
    const p = `/${"a".repeat(200)}`;
    let h = 0;
    for (const ch of p) h = ((h << 5) - h + ch.charCodeAt(0)) | 0;
    assert.equal(sanitizeProjectPath(p), `-${"a".repeat(199)}-${Math.abs(h).toString(36)}`);
  });

  test("two long paths that sanitise alike still get different folders", () => {
    const a = sanitizeProjectPath(`/${"x".repeat(250)}/a.b`);
    const b = sanitizeProjectPath(`/${"x".repeat(250)}/a_b`);
    assert.notEqual(a, b);
    assert.equal(a.slice(0, 201), b.slice(0, 201));
  });

  test("transcriptPath resolves the cwd and validates the session id", () => {
    assert.equal(transcriptPath("/h", "/home/ops/proj", SID), `/h/projects/-home-ops-proj/${SID}.jsonl`);
    assert.equal(projectDir("/h", "/home/ops/proj/../proj"), "/h/projects/-home-ops-proj");
    assert.throws(() => transcriptPath("/h", "/p", "../../etc/passwd"), /session id/);
  });

  // Claude Code 2.1.197 and 2.1.332, started after `cd <link>`, write under the physical path's name.
  test("locateTranscript names the folder after the physical cwd: a symlinked project or parent is resolved", async () => {
    const dir = await realpath(await tmp());
    const real = path.join(dir, "real-proj");
    await mkdir(real);
    await symlink("real-proj", path.join(dir, "link-to-proj"));
    await symlink(".", path.join(dir, "alias"));
    const expected = path.join(dir, "h", "projects", sanitizeProjectPath(real), `${SID}.jsonl`);
    assert.equal(await locateTranscript(path.join(dir, "h"), path.join(dir, "link-to-proj"), SID), expected);
    assert.equal(await locateTranscript(path.join(dir, "h"), path.join(dir, "alias", "link-to-proj", "."), SID), expected);
    assert.equal(await locateTranscript(path.join(dir, "h"), real, SID), expected);
    // A cwd that is gone cannot be resolved: it is named as given.
    const gone = path.join(dir, "alias", "gone");
    assert.equal(await locateTranscript(path.join(dir, "h"), gone, SID), transcriptPath(path.join(dir, "h"), gone, SID));
    await assert.rejects(locateTranscript("/h", real, "../../etc/passwd"), /session id/);
  });
});

describe("readTranscript", () => {
  test("a finished turn: the last reply, its prompt, usage counted once per response", async () => {
    const file = await transcript(jsonl(
      L.mode, L.prompt("MOCK_DELAY=300 turn 1"), L.snapshot, L.title,
      L.text("Mock reply #48: I received 21 characters. MOCK_REPLY_END"),
      // The same response written again (Claude Code writes one line per content block): counted once.
      L.text("Mock reply #48: I received 21 characters. MOCK_REPLY_END"),
      L.stopSummary, L.lastPrompt,
    ));
    const s = await readTranscript(file);
    assert.equal(s.lastAssistant?.text, "Mock reply #48: I received 21 characters. MOCK_REPLY_END\nMock reply #48: I received 21 characters. MOCK_REPLY_END");
    assert.equal(s.lastAssistant?.isApiError, false);
    assert.equal(s.lastAssistant?.afterLastPrompt, true);
    assert.equal(s.lastPrompt?.text, "MOCK_DELAY=300 turn 1");
    assert.deepEqual(s.usage, { inputTokens: 1200, outputTokens: 9, cacheCreationInputTokens: 0, cacheReadInputTokens: 0, responses: 1 });
    assert.deepEqual([s.entries, s.malformedLines, s.oversizedLines, s.partialLastLine, s.windowStart], [8, 0, 0, false, 0]);
  });

  test("texts of one response split over several lines are joined; a new response replaces them", async () => {
    const s = await readTranscript(await transcript(jsonl(
      L.prompt("do it"), L.text("I'll run the command.", "msg_A", "req_A"), L.toolUse, L.toolResult,
      L.text("Part one.", "msg_B", "req_B"), L.text("Part two.", "msg_B", "req_B"),
    )));
    assert.equal(s.lastAssistant?.text, "Part one.\nPart two.");
    assert.equal(s.lastAssistant?.messageId, "msg_B");
    assert.equal(s.lastPrompt?.text, "do it", "a tool result is not a prompt");
    assert.equal(s.usage.responses, 3);
    assert.equal(s.usage.outputTokens, 9 + 36 + 9);
  });

  test("the same message id under another request id is another response", async () => {
    const s = await readTranscript(await transcript(jsonl(L.text("a", "msg_X", "req_1"), L.text("a", "msg_X", "req_2"))));
    assert.equal(s.usage.responses, 2);
  });

  test("a usage-limit error line: synthetic, not counted as usage, and the latest state", async () => {
    const s = await readTranscript(await transcript(jsonl(
      L.prompt("first"), L.text("ok"),
      L.prompt("MOCK_LIMIT"), L.apiError("You've hit your weekly limit · resets Nov 30, 3:41am (UTC)", "rate_limit", 429),
    )));
    assert.deepEqual(s.lastAssistant, {
      text: "You've hit your weekly limit · resets Nov 30, 3:41am (UTC)", messageId: "b54fdfe4-896d-42c4-97c7-e56f9bb83877", uuid: "err-b54fdfe4-896d-42c4-97c7-e56f9bb83877",
      timestamp: "2026-11-26T22:41:33.685Z", isApiError: true, error: "rate_limit", apiErrorStatus: 429, usageLimit: true, afterLastPrompt: true,
    });
    assert.equal(s.apiErrors.length, 1);
    assert.equal(s.usage.responses, 1);
  });

  test("an error that later work scrolled past is history: the last assistant text is the later reply", async () => {
    const s = await readTranscript(await transcript(jsonl(
      L.prompt("a"), L.apiError("API Error: 500 Internal server error", "server_error", 500, "e1"), L.prompt("b"), L.text("fine now", "msg_C", "req_C"),
    )));
    assert.equal(s.lastAssistant?.isApiError, false);
    assert.equal(s.lastAssistant?.text, "fine now");
    assert.deepEqual(s.apiErrors.map((e) => [e.error, e.apiErrorStatus]), [["server_error", 500]]);
  });

  test("a prompt not answered yet: the last reply does not answer it", async () => {
    const s = await readTranscript(await transcript(jsonl(L.prompt("a"), L.text("reply a"), L.prompt("b", "u-b"), L.queue)));
    assert.equal(s.lastAssistant?.afterLastPrompt, false);
    assert.equal(s.lastPrompt?.uuid, "u-b");
  });

  test("subagent (sidechain) lines do not count as the main thread's reply", async () => {
    const side = { ...L.text("subagent says hi", "msg_S", "req_S"), isSidechain: true };
    const s = await readTranscript(await transcript(jsonl(L.prompt("a"), L.text("main reply", "msg_M", "req_M"), side)));
    assert.equal(s.lastAssistant?.text, "main reply");
  });

  test("a throttling 429 and an API-key 429 also say rate_limit, but are no usage limit", async () => {
    const s = await readTranscript(await transcript(jsonl(
      L.apiError("API Error: Server is temporarily limiting requests (not your usage limit) · Rate limited", "rate_limit", 429, "t1"),
      L.apiError("API Error: Request rejected (429) · Number of request tokens has exceeded your per-minute rate limit (mock)", "rate_limit", 429, "t2"),
      L.apiError("You've hit your session limit · resets 12:57am (UTC)", "rate_limit", 429, "t3"),
    )));
    assert.deepEqual(s.apiErrors.map((e) => e.usageLimit), [false, false, true]);
  });

  test("only the last 20 API errors are kept", async () => {
    const errs = Array.from({ length: 30 }, (_, i) => L.apiError(`err ${i}`, "server_error", 500, `e${i}`));
    const s = await readTranscript(await transcript(jsonl(...errs)));
    assert.equal(s.apiErrors.length, 20);
    assert.equal(s.apiErrors[0]?.text, "err 10");
  });

  test("a half-written last line is left out and flagged, not counted as malformed", async () => {
    const full = JSON.stringify(L.text("the newer reply", "msg_N", "req_N"));
    const s = await readTranscript(await transcript(jsonl(L.prompt("a"), L.text("older reply")) + full.slice(0, full.length / 2)));
    assert.equal(s.partialLastLine, true);
    assert.equal(s.malformedLines, 0);
    assert.equal(s.lastAssistant?.text, "older reply");
  });

  test("a complete last line without its newline is read", async () => {
    const s = await readTranscript(await transcript(jsonl(L.prompt("a")) + JSON.stringify(L.text("last"))));
    assert.equal(s.lastAssistant?.text, "last");
    assert.equal(s.partialLastLine, false);
  });

  test("malformed and hostile lines are counted and skipped", async () => {
    const s = await readTranscript(await transcript(jsonl(
      "not json at all", "[1,2,3]", "null", "42", "{", '{"type":', "\u0000\u0001\u0002",
      '{"type":"assistant","message":{"id":"m","content":[{"type":"text","text":7}],"usage":{"input_tokens":-5,"output_tokens":"many"}},"__proto__":{"polluted":true}}',
      L.prompt("a"), L.text("survivor"), "",
    ) + "\r\n"));
    assert.equal(s.malformedLines, 7);
    assert.equal(s.lastAssistant?.text, "survivor");
    assert.equal(s.usage.inputTokens, 1200, "a negative or non-numeric count adds nothing");
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test("CRLF line ends are read", async () => {
    const s = await readTranscript(await transcript([L.prompt("a"), L.text("crlf")].map((e) => JSON.stringify(e)).join("\r\n") + "\r\n"));
    assert.equal(s.lastAssistant?.text, "crlf");
    assert.equal(s.malformedLines, 0);
  });

  test("a line over the line cap is skipped unread", async () => {
    const huge = JSON.stringify(L.text("x".repeat(300_000), "msg_H", "req_H"));
    const s = await readTranscript(await transcript(jsonl(L.text("before", "msg_1", "req_1"), huge, L.text("after", "msg_2", "req_2"))), { maxLineBytes: 100_000 });
    assert.equal(s.oversizedLines, 1);
    assert.equal(s.lastAssistant?.text, "after");
    assert.equal(s.usage.responses, 2);
  });

  test("a huge file is read from its tail only; the cut first line is dropped silently", async () => {
    const file = await transcript("");
    const filler = jsonl(...Array.from({ length: 2000 }, (_, i) => L.text(`old reply ${i} ${"p".repeat(2000)}`, `msg_old${i}`, `req_old${i}`)));
    for (let i = 0; i < 5; i++) await appendFile(file, filler);
    await appendFile(file, jsonl(L.prompt("final"), L.text("the final reply", "msg_F", "req_F")));
    const s = await readTranscript(file, { maxBytes: 1024 * 1024 });
    assert.ok(s.fileSize > 20 * 1024 * 1024);
    assert.equal(s.windowStart, s.fileSize - 1024 * 1024);
    assert.equal(s.lastAssistant?.text, "the final reply");
    assert.equal(s.malformedLines, 0, "the line the window cut in half is not malformed");
    assert.ok(s.usage.responses < 600, "only the window's usage is counted");
    const all = await readTranscript(file, { maxBytes: Infinity });
    assert.equal(all.windowStart, 0);
    assert.equal(all.usage.responses, 2001, "the filler repeats the same 2000 responses five times: each counted once");
  });

  test("a window starting exactly at a line start keeps that line", async () => {
    const second = `${JSON.stringify(L.text("second", "msg_2", "req_2"))}\n`;
    const file = await transcript(jsonl(L.text("first", "msg_1", "req_1")) + second);
    const s = await readTranscript(file, { maxBytes: Buffer.byteLength(second) });
    assert.equal(s.entries, 1);
    assert.equal(s.lastAssistant?.text, "second");
  });

  test("an empty file has nothing, and says so", async () => {
    const s = await readTranscript(await transcript(""));
    assert.equal(s.lastAssistant, undefined);
    assert.equal(s.entries, 0);
  });

  test("invalid UTF-8 does not break reading", async () => {
    const file = await transcript("");
    await appendFile(file, Buffer.from([0xff, 0xfe, 0x0a]));
    await appendFile(file, jsonl(L.text("ok after junk")));
    const s = await readTranscript(file);
    assert.equal(s.lastAssistant?.text, "ok after junk");
    assert.equal(s.malformedLines, 1);
  });

  test("a missing file and a folder are typed errors", async () => {
    const dir = await tmp();
    await assert.rejects(readTranscript(path.join(dir, "none.jsonl")), (e: unknown) => e instanceof TranscriptError && e.code === "TRANSCRIPT_NOT_FOUND");
    await assert.rejects(readTranscript(dir), (e: unknown) => e instanceof TranscriptError && e.code === "TRANSCRIPT_UNREADABLE");
  });
});
