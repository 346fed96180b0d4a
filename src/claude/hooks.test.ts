import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { isUsageLimitFailure, parseHookEnvelope, parseHookPayload, type HookEvent } from "./hooks.js";

const SID = "11111111-2222-4333-8444-555555555555";
const common = {
  session_id: SID,
  transcript_path: `/tmp/cfg/projects/-tmp-proj/${SID}.jsonl`,
  cwd: "/tmp/proj",
};

/** Payloads as the real CLI (2.1.197) sent them to a hook, captured against the mock model API. */
const REAL = {
  sessionStart: { ...common, hook_event_name: "SessionStart", source: "startup", model: "claude-sonnet-5" },
  prompt: { ...common, prompt_id: "f750133c-da38-466a-85d1-19410ffe5a97", permission_mode: "bypassPermissions", hook_event_name: "UserPromptSubmit", prompt: "hello there\nsecond line" },
  stop: {
    ...common, prompt_id: "f750133c-da38-466a-85d1-19410ffe5a97", permission_mode: "bypassPermissions", effort: { level: "high" },
    hook_event_name: "Stop", stop_hook_active: false, last_assistant_message: "Mock reply #2: I received 23 characters. MOCK_REPLY_END", background_tasks: [], session_crons: [],
  },
  limit: { ...common, prompt_id: "131d9b50", effort: { level: "high" }, hook_event_name: "StopFailure", error: "rate_limit", last_assistant_message: "You've hit your session limit · resets 11:13am (UTC)" },
  throttled: {
    ...common, hook_event_name: "StopFailure", error: "rate_limit",
    last_assistant_message: "API Error: Server is temporarily limiting requests (not your usage limit) · Number of request tokens has exceeded your per-minute rate limit (mock)",
  },
  server: {
    ...common, hook_event_name: "StopFailure", error: "server_error",
    last_assistant_message: "API Error: 500 Internal server error (upstream rate limit exceeded, mock). This is a server-side issue, usually temporary — try again in a moment.",
  },
  auth: { ...common, hook_event_name: "StopFailure", error: "authentication_failed", last_assistant_message: "Not logged in · Please run /login" },
  end: { ...common, prompt_id: "a44492df", hook_event_name: "SessionEnd", reason: "prompt_input_exit" },
};

function parsed(payload: unknown, fallback?: string): HookEvent {
  const r = parseHookPayload(payload, fallback);
  assert.ok(r.ok, r.ok ? "" : r.reason);
  return r.event;
}

describe("parseHookPayload: real payloads", () => {
  const cases: [string, unknown, HookEvent][] = [
    ["SessionStart", REAL.sessionStart, { ...baseOf(), kind: "SessionStart", source: "startup", model: "claude-sonnet-5" }],
    ["UserPromptSubmit", REAL.prompt, { ...baseOf(), permissionMode: "bypassPermissions", kind: "UserPromptSubmit", prompt: "hello there\nsecond line" }],
    ["Stop", REAL.stop, { ...baseOf(), permissionMode: "bypassPermissions", kind: "Stop", stopHookActive: false, lastAssistantMessage: "Mock reply #2: I received 23 characters. MOCK_REPLY_END" }],
    ["StopFailure rate_limit", REAL.limit, { ...baseOf(), kind: "StopFailure", error: "rate_limit", lastAssistantMessage: "You've hit your session limit · resets 11:13am (UTC)" }],
    ["StopFailure server_error", REAL.server, { ...baseOf(), kind: "StopFailure", error: "server_error", lastAssistantMessage: REAL.server.last_assistant_message }],
    ["SessionEnd", REAL.end, { ...baseOf(), kind: "SessionEnd", reason: "prompt_input_exit" }],
  ];
  for (const [label, payload, expected] of cases) {
    test(label, () => assert.deepEqual(parsed(payload), expected));
  }

  test("Notification", () => {
    assert.deepEqual(parsed({ ...common, hook_event_name: "Notification", notification_type: "permission_prompt", message: "Claude needs your permission to use Bash" }), {
      ...baseOf(), kind: "Notification", notificationType: "permission_prompt", message: "Claude needs your permission to use Bash",
    });
  });
});

function baseOf(): { sessionId: string; transcriptPath: string; cwd: string } {
  return { sessionId: SID, transcriptPath: common.transcript_path, cwd: common.cwd };
}

describe("parseHookPayload: lenient and hostile input", () => {
  test("an unknown event is kept as Other with its name", () => {
    assert.deepEqual(parsed({ ...common, hook_event_name: "PreCompact", trigger: "auto" }), { ...baseOf(), kind: "Other", name: "PreCompact" });
  });

  test("the event name falls back to the one the hook command was registered for", () => {
    assert.equal(parsed({ session_id: SID, last_assistant_message: "hi" }, "Stop").kind, "Stop");
  });

  test("the payload's own event name wins over the registered one", () => {
    assert.equal(parsed({ session_id: SID, hook_event_name: "SessionEnd" }, "Stop").kind, "SessionEnd");
  });

  test("an unknown StopFailure error is kept raw, typed as unknown", () => {
    const e = parsed({ session_id: SID, hook_event_name: "StopFailure", error: "quota_exploded", error_details: { code: 7 } });
    assert.deepEqual(e, { sessionId: SID, kind: "StopFailure", error: "unknown", errorRaw: "quota_exploded", errorDetails: '{"code":7}' });
  });

  test("a StopFailure without error is unknown", () => {
    const e = parsed({ session_id: SID, hook_event_name: "StopFailure" });
    assert.ok(e.kind === "StopFailure" && e.error === "unknown" && e.errorRaw === undefined);
  });

  test("fields of the wrong type are dropped, not fatal", () => {
    const e = parsed({ session_id: SID, hook_event_name: "Stop", last_assistant_message: 42, stop_hook_active: "yes", cwd: ["x"] });
    assert.deepEqual(e, { sessionId: SID, kind: "Stop", stopHookActive: false });
  });

  const rejects: [string, unknown, string | undefined][] = [
    ["null", null, "Stop"],
    ["an array", [REAL.stop], "Stop"],
    ["a string", "Stop", "Stop"],
    ["no session id", { hook_event_name: "Stop" }, undefined],
    ["an empty session id", { session_id: "", hook_event_name: "Stop" }, undefined],
    ["a session id with a path in it", { session_id: "../../etc/passwd", hook_event_name: "Stop" }, undefined],
    ["a session id of 10 kB", { session_id: "a".repeat(10_000), hook_event_name: "Stop" }, undefined],
    ["no event name anywhere", { session_id: SID }, undefined],
    ["an event name with shell syntax", { session_id: SID, hook_event_name: "Stop; rm -rf /" }, undefined],
  ];
  for (const [label, payload, fallback] of rejects) {
    test(`refuses ${label}, with a reason`, () => {
      const r = parseHookPayload(payload, fallback);
      assert.equal(r.ok, false);
      assert.ok(!r.ok && r.reason.length > 0 && r.reason.length < 300);
    });
  }

  test("a huge message is kept whole (the hook command caps payloads before they get here)", () => {
    const text = "x".repeat(2_000_000);
    const e = parsed({ session_id: SID, hook_event_name: "Stop", last_assistant_message: text });
    assert.ok(e.kind === "Stop" && e.lastAssistantMessage?.length === text.length);
  });

  test("__proto__ keys do not pollute anything", () => {
    const e = parsed(JSON.parse(`{"session_id":"${SID}","hook_event_name":"Stop","__proto__":{"polluted":true}}`));
    assert.equal((e as unknown as Record<string, unknown>).polluted, undefined);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

describe("isUsageLimitFailure", () => {
  const cases: [string, unknown, boolean][] = [
    ["the session-limit banner", REAL.limit, true],
    ["the weekly-limit banner", { ...REAL.limit, last_assistant_message: "You've hit your weekly limit · resets Nov 30, 3:41am (UTC)" }, true],
    ["out of extra usage", { ...REAL.limit, last_assistant_message: "You're out of extra usage · resets 3pm" }, true],
    ["a 429 without quota headers (login mode)", REAL.throttled, false],
    ["a 429 with an API key", { ...REAL.limit, last_assistant_message: "API Error: Request rejected (429) · Number of request tokens has exceeded your per-minute rate limit" }, false],
    ["a 500 whose text mentions a rate limit", REAL.server, false],
    ["a rate_limit with no message", { ...REAL.limit, last_assistant_message: undefined }, false],
    ["an auth failure", REAL.auth, false],
    ["a Stop whose reply talks about limits", { ...REAL.stop, last_assistant_message: "You've hit your session limit · resets 1am" }, false],
  ];
  for (const [label, payload, expected] of cases) {
    test(`${label} → ${expected}`, () => assert.equal(isUsageLimitFailure(parsed(payload)), expected));
  }
});

describe("parseHookEnvelope", () => {
  const envelope = { event: "Stop", payload: REAL.stop, received_at: "2026-01-01T00:00:00.000Z", context: { tmux_pane: "%3", config_dir: "/home/ops/.claude-main" } };

  test("a valid envelope yields the event and the receive time", () => {
    const r = parseHookEnvelope(envelope);
    assert.ok(r.ok);
    assert.equal(r.event.kind, "Stop");
    assert.equal(r.receivedAt, Date.UTC(2026, 0, 1));
    assert.equal(r.envelope.context?.tmux_pane, "%3");
  });

  test("the environment's session id fills in a payload without one", () => {
    const r = parseHookEnvelope({ ...envelope, payload: { hook_event_name: "Stop" }, context: { claude_session_id: SID } });
    assert.ok(r.ok && r.event.sessionId === SID);
  });

  const bad: [string, unknown][] = [
    ["not an object", "x"],
    ["no received_at", { event: "Stop", payload: REAL.stop }],
    ["a received_at that is no date", { ...envelope, received_at: "yesterday" }],
    ["a bad event name", { ...envelope, event: "../x" }],
    ["a payload without session id", { ...envelope, payload: { hook_event_name: "Stop" } }],
    ["a non-JSON payload wrapped by the hook command", { ...envelope, payload: { _raw: "not json", _invalid_json: true } }],
  ];
  for (const [label, body] of bad) {
    test(`refuses ${label}`, () => {
      const r = parseHookEnvelope(body);
      assert.equal(r.ok, false);
    });
  }
});
