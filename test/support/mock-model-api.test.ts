import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { instanceOf, startMockModelApi, type MockModelApi } from "./mock-model-api.js";
import { unwrapPasted } from "./mock-model-wire.js";

let api: MockModelApi;
before(async () => {
  api = await startMockModelApi();
});
after(() => api.close());
beforeEach(() => api.reset());

interface SseEvent { event: string; data: Record<string, unknown> }

/** Splits an SSE body into events, checking each `event:` name matches its data's `type`. */
function parseSse(body: string): SseEvent[] {
  return body.split("\n\n").filter((b) => b.trim() !== "").map((block) => {
    const event = /^event: (.*)$/m.exec(block)?.[1] ?? "";
    const data = JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? "null") as Record<string, unknown>;
    assert.equal(data.type, event, "event name and data type agree");
    return { event, data };
  });
}

function body(prompt: string | unknown[], extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ model: "claude-sonnet-5", max_tokens: 1024, stream: true, messages: [{ role: "user", content: prompt }], ...extra });
}

async function post(payload: string, token = "tok-A", headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${api.url}/v1/messages?beta=true`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers }, body: payload });
}

/** The text a stream spells out, and the tool inputs it carries. */
function assemble(events: SseEvent[]): { text: string; tools: { name: string; id: string; input: unknown }[]; stopReason: unknown } {
  let text = "";
  const tools: { name: string; id: string; input: unknown }[] = [];
  let json = "";
  let stopReason: unknown;
  for (const { data } of events) {
    if (data.type === "content_block_start") {
      const block = data.content_block as Record<string, unknown>;
      if (block.type === "tool_use") tools.push({ name: String(block.name), id: String(block.id), input: undefined });
      json = "";
    }
    if (data.type === "content_block_delta") {
      const delta = data.delta as Record<string, string>;
      if (delta.type === "text_delta") text += delta.text;
      if (delta.type === "input_json_delta") json += delta.partial_json;
    }
    if (data.type === "content_block_stop" && json !== "") tools.at(-1)!.input = JSON.parse(json);
    if (data.type === "message_delta") stopReason = (data.delta as Record<string, unknown>).stop_reason;
  }
  return { text, tools, stopReason };
}

describe("mock model API: the start-up and stream protocol", () => {
  test("HEAD / answers 200 and is recorded", async () => {
    const res = await fetch(api.url, { method: "HEAD" });
    assert.equal(res.status, 200);
    assert.deepEqual(api.requests.map((r) => [r.method, r.path, r.kind]), [["HEAD", "/", "other"]]);
  });

  test("a turn streams the Anthropic event sequence", async () => {
    const res = await post(body("hello there"));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/event-stream");
    assert.match(res.headers.get("request-id") ?? "", /^req_mock/);
    const events = parseSse(await res.text());
    const names = events.map((e) => e.event);
    assert.deepEqual([names[0], names.at(-2), names.at(-1)], ["message_start", "message_delta", "message_stop"]);
    assert.deepEqual(names.filter((n) => n.startsWith("content_block")).filter((n, i, a) => a.indexOf(n) === i), ["content_block_start", "content_block_delta", "content_block_stop"]);
    const start = events[0]!.data.message as Record<string, unknown>;
    assert.equal(start.role, "assistant");
    assert.match(String(start.id), /^msg_mock/);
    const delta = events.at(-2)!.data as { usage: { output_tokens: number }; delta: { stop_reason: string } };
    assert.equal(delta.delta.stop_reason, "end_turn");
    assert.ok(delta.usage.output_tokens > 0);
    assert.match(assemble(events).text, /^Mock reply #1: I received 11 characters\. MOCK_REPLY_END$/);
  });

  test("a scripted reply text, and no stream when stream is false", async () => {
    api.script({ prompt: "greet", respond: { kind: "reply", text: "Hello, operator." } });
    const res = await post(body("please greet", { stream: false }));
    const json = (await res.json()) as { content: { type: string; text: string }[]; stop_reason: string };
    assert.deepEqual(json.content, [{ type: "text", text: "Hello, operator." }]);
    assert.equal(json.stop_reason, "end_turn");
  });

  test("a tool reply: tool_use of Bash, then the final text once the tool result comes back", async () => {
    api.script({ prompt: "make the flag", respond: { kind: "tool", command: "touch /tmp/x.flag", finalText: "Flag made." } });
    const first = assemble(parseSse(await (await post(body("make the flag"))).text()));
    assert.equal(first.stopReason, "tool_use");
    assert.equal(first.tools.length, 1);
    assert.equal(first.tools[0]!.name, "Bash");
    assert.deepEqual(first.tools[0]!.input, { command: "touch /tmp/x.flag", description: "Run the requested command" });
    const followUp = JSON.stringify({
      stream: true,
      messages: [
        { role: "user", content: "make the flag" },
        { role: "assistant", content: [{ type: "tool_use", id: first.tools[0]!.id, name: "Bash", input: {} }] },
        { role: "user", content: [{ type: "tool_result", tool_use_id: first.tools[0]!.id, content: "(Bash completed with no output)" }] },
      ],
    });
    const second = assemble(parseSse(await (await post(followUp)).text()));
    assert.equal(second.text, "Flag made.");
    assert.equal(second.stopReason, "end_turn");
    assert.equal(api.requests.at(-1)!.behaviour, "tool-final");
  });

  test("a side request asking for JSON gets JSON that fits its schema, without spending a prompt rule", async () => {
    api.script({ prompt: "title me", respond: { kind: "server-error" }, times: 1 });
    const schema = { type: "object", properties: { title: { type: "string" } }, required: ["title"], additionalProperties: false };
    const res = await post(body("<session>\ntitle me\n</session>", { output_config: { effort: "high", format: { type: "json_schema", schema } } }));
    const text = assemble(parseSse(await res.text())).text;
    assert.deepEqual(JSON.parse(text), { title: "Mock session title" });
    assert.equal(api.requests.at(-1)!.kind, "side");
    assert.equal((await post(body("title me"))).status, 500, "the rule is still there for the turn");
  });

  test("instanceOf fills a schema with a minimal instance", () => {
    assert.deepEqual(instanceOf({ type: "object", properties: { a: { type: "integer" }, b: { enum: ["x", "y"] }, c: { type: ["boolean", "null"] }, d: { const: 3 }, e: { type: "array" } } }, 0), {
      a: 0, b: "x", c: false, d: 3, e: [],
    });
    assert.equal(instanceOf("not a schema", 0), null);
  });
});

describe("mock model API: failures", () => {
  test("a usage limit: 429, JSON error body, unified rate-limit headers", async () => {
    api.script({ respond: { kind: "usage-limit", claim: "seven_day", resetAt: 1_790_000_000 } });
    const res = await post(body("anything"));
    assert.equal(res.status, 429);
    assert.equal(res.headers.get("anthropic-ratelimit-unified-status"), "rejected");
    assert.equal(res.headers.get("anthropic-ratelimit-unified-reset"), "1790000000");
    assert.equal(res.headers.get("anthropic-ratelimit-unified-representative-claim"), "seven_day");
    assert.equal(res.headers.get("anthropic-ratelimit-unified-7d-status"), "rejected");
    const json = (await res.json()) as { type: string; error: { type: string } };
    assert.equal(json.type, "error");
    assert.equal(json.error.type, "rate_limit_error");
  });

  const plain: [string, Parameters<MockModelApi["script"]>[0]["respond"], number, string, RegExp][] = [
    ["a 429 without quota headers", { kind: "rate-limit" }, 429, "rate_limit_error", /rate limit/],
    ["a 500 whose text mentions a rate limit", { kind: "server-error" }, 500, "api_error", /rate limit/],
    ["a 529 overloaded", { kind: "overloaded" }, 529, "overloaded_error", /Overloaded/],
    ["a 401", { kind: "auth-error" }, 401, "authentication_error", /invalid/],
  ];
  for (const [label, respond, status, type, message] of plain) {
    test(`${label}: status ${status}, ${type}, x-should-retry: false, no quota headers`, async () => {
      api.script({ respond });
      const res = await post(body("x"));
      assert.equal(res.status, status);
      assert.equal(res.headers.get("x-should-retry"), "false");
      assert.equal(res.headers.get("anthropic-ratelimit-unified-status"), null);
      const json = (await res.json()) as { error: { type: string; message: string } };
      assert.equal(json.error.type, type);
      assert.match(json.error.message, message);
    });
  }

  test("retry: true leaves x-should-retry out", async () => {
    api.script({ respond: { kind: "overloaded", retry: true } });
    assert.equal((await post(body("x"))).headers.get("x-should-retry"), null);
  });
});

describe("mock model API: scripting", () => {
  test("rules by token tell accounts apart", async () => {
    api.script({ token: "tok-exhausted", respond: { kind: "usage-limit" } });
    assert.equal((await post(body("work"), "tok-exhausted")).status, 429);
    assert.equal((await post(body("work"), "tok-fresh")).status, 200);
    assert.equal((await post(body("work"), "sk-ant-key", { authorization: "", "x-api-key": "tok-exhausted" })).status, 429, "x-api-key counts too");
    assert.deepEqual(api.requests.map((r) => r.token), ["tok-exhausted", "tok-fresh", "tok-exhausted"]);
  });

  test("exhaust: the account is at its wall until the reset, to the second, over any rule; side requests pass", async () => {
    const resetAt = Math.floor(Date.now() / 1000) + 120;
    api.exhaust("tok-out", resetAt);
    api.script({ token: "tok-out", respond: { kind: "reply", text: "never" } });
    const res = await post(body("work"), "tok-out");
    assert.equal(res.status, 429);
    assert.equal(res.headers.get("anthropic-ratelimit-unified-reset"), String(resetAt));
    assert.equal(res.headers.get("anthropic-ratelimit-unified-representative-claim"), "five_hour");
    assert.equal((await post(body("work"), "tok-other")).status, 200, "another account is not at the wall");
    assert.equal((await post(body("title", { output_config: { format: { type: "json_schema", schema: { type: "object" } } } }), "tok-out")).status, 200);
    // Once the reset has passed, turns are answered again.
    api.exhaust("tok-out", Math.floor(Date.now() / 1000) - 1);
    assert.equal((await post(body("work"), "tok-out")).status, 200);
  });

  test("a paste 2.1.332 wrapped in <pasted_content> is seen as typed (rules and markers match it)", async () => {
    const typed = "TOKEN-WRAP first line\nsecond line MOCK_500";
    assert.equal(unwrapPasted(`\n\n<pasted_content id="4ac9">\n${typed}\n</pasted_content>`), typed);
    assert.equal(unwrapPasted("no wrapping <pasted_content"), "no wrapping <pasted_content");
    const res = await post(body([{ type: "text", text: `<pasted_content id="b41f">\n${typed}\n</pasted_content>` }]));
    assert.equal(res.status, 500, "the marker inside the wrapped paste drives the mock");
    assert.equal(api.requests.at(-1)?.lastUserText, typed);
  });

  test("times: a rule is spent after that many uses", async () => {
    api.script({ prompt: "flaky", respond: { kind: "server-error" }, times: 2 });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await post(body("flaky"))).status);
    assert.deepEqual(statuses, [500, 500, 200]);
  });

  test("a RegExp prompt rule", async () => {
    api.script({ prompt: /^deploy \d+$/, respond: { kind: "auth-error" } });
    assert.equal((await post(body("deploy 42"))).status, 401);
    assert.equal((await post(body("deploy now"))).status, 200);
  });

  test("markers in the newest prompt drive the mock; an older failed prompt resent with it does not", async () => {
    assert.equal((await post(body("MOCK_LIMIT please"))).status, 429);
    // After a failed turn the CLI resends the unanswered prompt as an earlier block of the same message.
    const resent = [{ type: "text", text: "<system-reminder>\ncontext\n</system-reminder>" }, { type: "text", text: "MOCK_LIMIT please\n" }, { type: "text", text: "second prompt" }];
    assert.equal((await post(body(resent))).status, 200);
    const r = api.requests.at(-1)!;
    assert.equal(r.lastUserText, "second prompt");
    assert.deepEqual(r.userTexts, ["MOCK_LIMIT please\n", "second prompt"]);
  });

  const markers: [string, number][] = [["MOCK_LIMIT_WEEKLY", 429], ["MOCK_429", 429], ["MOCK_500", 500], ["MOCK_529", 529], ["MOCK_401", 401], ["MOCK_TOOL: ls", 200]];
  for (const [marker, status] of markers) {
    test(`marker ${marker} → ${status}`, async () => {
      const res = await post(body(`${marker}\nplease`));
      assert.equal(res.status, status);
      if (marker === "MOCK_LIMIT_WEEKLY") assert.equal(res.headers.get("anthropic-ratelimit-unified-representative-claim"), "seven_day");
      if (marker === "MOCK_TOOL: ls") assert.deepEqual((assemble(parseSse(await res.text())).tools[0]!.input as { command: string }).command, "ls");
    });
  }

  test("markers can be switched off", async () => {
    const quiet = await startMockModelApi({ markers: false });
    try {
      const res = await fetch(`${quiet.url}/v1/messages`, { method: "POST", body: body("MOCK_500") });
      assert.equal(res.status, 200);
    } finally {
      await quiet.close();
    }
  });

  test("a delayed reply waits at least its delay", async () => {
    api.script({ respond: { kind: "reply", text: "slow", delayMs: 150 } });
    const t0 = performance.now();
    const res = await post(body("x"));
    await res.text();
    assert.ok(performance.now() - t0 >= 140);
  });
});

describe("mock model API: records and odd input", () => {
  test("records method, path, query, headers, parsed body and the prompt without system reminders", async () => {
    await post(body([{ type: "text", text: "<system-reminder>\nignore\n</system-reminder>\n\n" }, { type: "text", text: "the prompt" }]), "tok-rec");
    const r = api.requests[0]!;
    assert.deepEqual([r.method, r.path, r.query, r.kind, r.status, r.behaviour], ["POST", "/v1/messages", "?beta=true", "turn", 200, "reply"]);
    assert.equal(r.headers.authorization, "Bearer tok-rec");
    assert.equal((r.body as { model: string }).model, "claude-sonnet-5");
    assert.equal(r.lastUserText, "the prompt");
  });

  test("a body that is not JSON is recorded raw and still answered", async () => {
    const res = await fetch(`${api.url}/v1/messages`, { method: "POST", body: "{{{ not json" });
    assert.equal(res.status, 200);
    assert.equal(api.requests[0]!.body, "{{{ not json");
  });

  test("an oversized body is refused with 413", async () => {
    const small = await startMockModelApi({ maxBodyBytes: 1000 });
    try {
      const res = await fetch(`${small.url}/v1/messages`, { method: "POST", body: "x".repeat(5000) });
      assert.equal(res.status, 413);
    } finally {
      await small.close();
    }
  });

  test("an unknown route is a recorded 404", async () => {
    const res = await fetch(`${api.url}/api/claude_cli_profile`);
    assert.equal(res.status, 404);
    assert.equal(api.requests[0]!.status, 404);
  });

  test("count_tokens answers", async () => {
    const res = await fetch(`${api.url}/v1/messages/count_tokens`, { method: "POST", body: body("x") });
    assert.deepEqual(await res.json(), { input_tokens: 1200 });
  });

  test("waitForRequest resolves on a later request and rejects after its deadline", async () => {
    const waiting = api.waitForRequest((r) => r.lastUserText === "later", 5000);
    await post(body("later"));
    assert.equal((await waiting).lastUserText, "later");
    await assert.rejects(api.waitForRequest((r) => r.lastUserText === "never", 20), /no matching request/);
  });
});

describe("mock model API: OAuth usage endpoint", () => {
  test("answers per token; a default for unknown tokens; 401 without one", async () => {
    api.setUsage("tok-A", { five_hour: { utilization: 55, resets_at: "2026-04-17T05:00:00Z" }, seven_day: null });
    api.setUsage("tok-B", { status: 429, body: { type: "error", error: { type: "rate_limit_error", message: "slow down" } } });
    const get = (token?: string) => fetch(`${api.url}/api/oauth/usage`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    assert.deepEqual(await (await get("tok-A")).json(), { five_hour: { utilization: 55, resets_at: "2026-04-17T05:00:00Z" }, seven_day: null });
    assert.equal((await get("tok-B")).status, 429);
    const other = (await (await get("tok-C")).json()) as { five_hour: { utilization: number } };
    assert.equal(other.five_hour.utilization, 0);
    assert.equal((await get()).status, 401);
  });
});

describe("mock model API: lifecycle", () => {
  test("close cuts a pending delay and is safe to call twice", async () => {
    const m = await startMockModelApi();
    m.script({ respond: { kind: "reply", delayMs: 60_000 } });
    const pending = fetch(`${m.url}/v1/messages`, { method: "POST", body: body("x") }).then(
      (r) => r.status,
      () => "cut",
    );
    await m.waitForRequest(() => true);
    const first = m.close();
    assert.equal(m.close(), first);
    await first;
    assert.equal(await pending, "cut");
  });
});
