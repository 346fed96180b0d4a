import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { classifyScreen, type LimitKind, type ScreenVerdict } from "./screen.js";
import { buildScreen, type ScreenSpec, type Turn } from "./test-screens.js";

// 2025-06-14 12:00 UTC: summer time in both hemispheres' northern zones, winter in the southern ones.
const NOW = Date.UTC(2025, 5, 14, 12, 0);
const DONE_TURN: Turn = { prompt: "fix the tests", output: ["● Fixed; all green."], done: "✻ Worked for 5s" };

function classify(spec: ScreenSpec, hostZone = "UTC"): ScreenVerdict {
  return classifyScreen(buildScreen(spec), { now: NOW, hostZone });
}

/** A screen whose last turn ended on `lines` (drawn under the prompt as the CLI draws them). */
function endingOn(lines: string[], version: ScreenSpec["version"] = "2.1"): ScreenSpec {
  return { version, turns: [DONE_TURN, { prompt: "carry on", output: lines, done: "✻ Worked for 3s" }] };
}

const iso = (ms: number | null | undefined): string | null => (ms == null ? null : new Date(ms).toISOString());

describe("usage-limit banners of every version (CLAUDE-CODE.md §3) → limit", () => {
  const cases: {
    name: string;
    lines: string[];
    kind: LimitKind;
    resetsAt: string | null;
    version?: ScreenSpec["version"];
    hostZone?: string;
  }[] = [
    {
      name: "2.1 session, Europe/Vienna",
      lines: [
        "  ⎿  You've hit your session limit · resets 1:20am (Europe/Vienna)",
        "     /upgrade to increase your usage limit.",
      ],
      kind: "session",
      resetsAt: "2025-06-14T23:20:00.000Z",
    },
    {
      name: "2.1 weekly with a date",
      lines: ["  ⎿  You've hit your weekly limit · resets Dec 2, 7pm (Europe/Moscow)"],
      kind: "weekly",
      resetsAt: "2025-12-02T16:00:00.000Z",
    },
    {
      name: "2.1 Opus without a zone (host zone New York)",
      lines: ["  ⎿  You've hit your Opus limit · resets 3pm"],
      kind: "opus",
      resetsAt: "2025-06-14T19:00:00.000Z",
      hostZone: "America/New_York",
    },
    {
      name: "2.1 Sonnet, already past today in Tokyo → tomorrow",
      lines: ["  ⎿  You've hit your Sonnet limit · resets 8:40pm (Asia/Tokyo)"],
      kind: "sonnet",
      resetsAt: "2025-06-15T11:40:00.000Z",
    },
    {
      name: "2.1 usage limit, 'Jul 27 at 4:30am' form",
      lines: ["  ⎿  You've hit your usage limit · resets Jul 27 at 4:30am (UTC)"],
      kind: "usage",
      resetsAt: "2025-07-27T04:30:00.000Z",
    },
    {
      name: "2.1 bare 'limit', ∙ separator",
      lines: ["  ⎿  You've hit your limit ∙ resets 3pm (UTC)"],
      kind: "usage",
      resetsAt: "2025-06-14T15:00:00.000Z",
    },
    {
      name: "2.1 out of extra usage, Australia/Sydney",
      lines: ["  ⎿  You're out of extra usage · resets 11pm (Australia/Sydney)"],
      kind: "extra",
      resetsAt: "2025-06-14T13:00:00.000Z",
    },
    {
      name: "2.1 with a year",
      lines: ["  ⎿  You've hit your weekly limit · resets Jan 3, 2026, 9am (UTC)"],
      kind: "weekly",
      resetsAt: "2026-01-03T09:00:00.000Z",
    },
    {
      name: "2.1 with no reset time",
      lines: ["  ⎿  You've hit your session limit", "     /upgrade to increase your usage limit."],
      kind: "session",
      resetsAt: null,
    },
    {
      name: "2.1 with the hint drawn as its own ⎿ line",
      lines: ["  ⎿  You've hit your session limit · resets 3pm (UTC)", "  ⎿  /upgrade to increase your usage limit."],
      kind: "session",
      resetsAt: "2025-06-14T15:00:00.000Z",
    },
    {
      name: "2.1 as a ● line",
      lines: ["● You've hit your session limit · resets 12:57am (UTC)"],
      kind: "session",
      resetsAt: "2025-06-15T00:57:00.000Z",
    },
    {
      name: "2.1 after tool work in the same turn",
      lines: ["● Bash(npm test)", "  ⎿  Done", "", "  ⎿  You've hit your session limit · resets 5pm (UTC)"],
      kind: "session",
      resetsAt: "2025-06-14T17:00:00.000Z",
    },
    {
      name: "2.0 5-hour, Pacific/Auckland, hint on the line",
      lines: [
        "  ⎿  5-hour limit reached · resets 2pm (Pacific/Auckland) · /upgrade to Max 20x or turn on /extra-usage",
      ],
      kind: "session",
      resetsAt: "2025-06-15T02:00:00.000Z",
      version: "2.0",
    },
    {
      name: "2.0 weekly with a date",
      lines: ["  ⎿  Weekly limit reached · resets Dec 2, 7pm (Europe/Moscow) · /upgrade to Max 20x"],
      kind: "weekly",
      resetsAt: "2025-12-02T16:00:00.000Z",
      version: "2.0",
    },
    {
      name: "2.0 session with ∙ and no zone (host zone Berlin)",
      lines: ["  ⎿  Session limit reached ∙ resets 9:30pm"],
      kind: "session",
      resetsAt: "2025-06-14T19:30:00.000Z",
      version: "2.0",
      hostZone: "Europe/Berlin",
    },
    {
      name: "1.0 with Etc/GMT+5 (which is UTC−5)",
      lines: ["  ⎿  Claude usage limit reached. Your limit will reset at 1pm (Etc/GMT+5)."],
      kind: "usage",
      resetsAt: "2025-06-14T18:00:00.000Z",
      version: "1.0",
    },
    {
      name: "1.0 raw epoch form",
      lines: ["  ⎿  Claude AI usage limit reached|1749924000"],
      kind: "usage",
      resetsAt: "2025-06-14T18:00:00.000Z",
      version: "1.0",
    },
    {
      name: "1.0 raw epoch form after 'API Error:'",
      lines: ["● API Error: Claude AI usage limit reached|1749924000"],
      kind: "usage",
      resetsAt: "2025-06-14T18:00:00.000Z",
      version: "1.0",
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const verdict = classify(endingOn(c.lines, c.version), c.hostZone);
      assert.deepEqual(
        {
          state: verdict.state,
          detail: verdict.detail,
          kind: verdict.limit?.kind,
          resetsAt: iso(verdict.limit?.resetsAt),
        },
        { state: "limit", detail: "limit-banner", kind: c.kind, resetsAt: c.resetsAt },
      );
    });
  }
});

describe("never a limit: transient errors, warnings, auth (U1)", () => {
  const cases: { name: string; lines: string[]; state: string; detail: string }[] = [
    {
      name: "a 500 whose body says 'rate limit' (the prototype's worst false positive)",
      lines: [
        '● API Error: 500 {"type":"error","error":{"type":"api_error","message":"Internal server error: upstream rate limit exceeded, usage limit reached"},"request_id":"req_011CUx"}',
      ],
      state: "error",
      detail: "api-500",
    },
    {
      name: "an api_error body that opens with quota words",
      lines: [
        '● API Error: Claude AI usage limit reached|1749924000 {"type":"error","error":{"type":"api_error","message":"Internal server error"}}',
      ],
      state: "error",
      detail: "api-500",
    },
    {
      name: "a 529 overloaded_error body",
      lines: ['● API Error: 529 {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'],
      state: "error",
      detail: "overloaded-529",
    },
    {
      name: "a 529 in prose",
      lines: ["● API Error: 529 Overloaded. This is a server-side issue, usually temporary — try again in a moment."],
      state: "error",
      detail: "overloaded-529",
    },
    {
      name: "server limiting requests (not your usage limit)",
      lines: ["● API Error: Server is temporarily limiting requests (not your usage limit) · Rate limited"],
      state: "error",
      detail: "server-limiting",
    },
    {
      name: "API-key 429 whose body quotes a limit",
      lines: ["● API Error: Request rejected (429) · You've hit your session limit · resets 3pm"],
      state: "error",
      detail: "request-rejected-429",
    },
    { name: "connection error", lines: ["● API Error: Connection error."], state: "error", detail: "connection" },
    { name: "timeout", lines: ["  ⎿  Request timed out"], state: "error", detail: "timeout" },
    {
      name: "1.0 connection retry still running",
      lines: ["  ⎿  API Error (Connection error.) · Retrying in 1 seconds… (attempt 1/10)"],
      state: "busy",
      detail: "retrying",
    },
    { name: "not logged in", lines: ["  ⎿  Not logged in · Please run /login"], state: "error", detail: "auth" },
    {
      name: "OAuth token revoked",
      lines: ["  ⎿  OAuth token revoked · Please run /login"],
      state: "error",
      detail: "auth",
    },
    { name: "credit balance", lines: ["● Credit balance is too low"], state: "error", detail: "auth" },
    {
      name: "a 401 authentication_error",
      lines: [
        '● API Error: 401 {"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}',
      ],
      state: "error",
      detail: "auth",
    },
    {
      name: "warning: 91% used",
      lines: [
        "  ⎿  You've used 91% of your session limit · resets 8:40pm (Europe/Berlin) · /upgrade to keep using Claude Code",
      ],
      state: "idle",
      detail: "usage-warning",
    },
    {
      name: "warning: approaching weekly limit",
      lines: ["  ⎿  Approaching weekly limit · resets Dec 2, 7pm (Europe/Moscow)"],
      state: "idle",
      detail: "usage-warning",
    },
    {
      name: "warning: now using extra usage",
      lines: ["  ⎿  You're now using extra usage · Your session limit resets 3pm (UTC)"],
      state: "idle",
      detail: "usage-warning",
    },
    {
      name: "context limit (not quota)",
      lines: ["  ⎿  Context limit reached · /compact or /clear to continue"],
      state: "idle",
      detail: "ready",
    },
    {
      name: "interrupted",
      lines: ["  ⎿  Interrupted · What should Claude do instead?"],
      state: "idle",
      detail: "interrupted",
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const verdict = classify(endingOn(c.lines));
      assert.deepEqual(
        { state: verdict.state, detail: verdict.detail, limit: verdict.limit },
        { state: c.state, detail: c.detail, limit: null },
      );
    });
  }

  test("an auth error stays an error while text is typed; a transient one gives way to it", () => {
    const auth = classify({ ...endingOn(["  ⎿  Not logged in · Please run /login"]), input: "retry" });
    const transient = classify({ ...endingOn(["● API Error: 500 Internal server error."]), input: "retry" });
    assert.deepEqual([auth.state, transient.state], ["error", "idle"]);
  });
});

const BANNER = "You've hit your session limit · resets 3pm (UTC)";

describe("quoted limit text is not a limit", () => {
  const cases: { name: string; spec: ScreenSpec; state: string }[] = [
    {
      name: "the user's prompt is the banner, and the reply came",
      spec: { turns: [{ prompt: BANNER, output: ["● That is the usage-limit banner."], done: "✻ Worked for 2s" }] },
      state: "idle",
    },
    {
      name: "the user's prompt is the banner, no reply yet",
      spec: { turns: [{ prompt: BANNER, output: [] }] },
      state: "idle",
    },
    {
      name: "the user's prompt is the banner, turn running",
      spec: { turns: [{ prompt: BANNER, output: [] }], status: ["✶ Pondering…"] },
      state: "busy",
    },
    {
      name: "the reply quotes it mid-sentence",
      spec: endingOn([`● The CLI printed "${BANNER}" earlier; the run was retried and passed.`]),
      state: "idle",
    },
    {
      name: "the reply opens with the words but goes on in prose",
      spec: endingOn(["● You've hit your session limit — that message means the five-hour window is used up."]),
      state: "idle",
    },
    {
      name: "the reply opens with the exact banner and explains at length",
      spec: endingOn([
        `● ${BANNER}`,
        "  is what Claude Code prints when the five-hour window of a subscription is used up. The daemon watches for",
        "  it on the screen, in the StopFailure hook and in the transcript, and swaps to another account when all",
        "  three agree; a warning such as 'You've used 91%' does not count, and neither does a 5xx error.",
      ]),
      state: "idle",
    },
    {
      name: "a continuation line of the reply starts with the banner",
      spec: endingOn(["● Here is the log line:", `  ${BANNER}`, "  and it recovered after the reset."]),
      state: "idle",
    },
    {
      name: "a tool result quoting it, then the reply",
      spec: endingOn(["● Bash(grep -r limit logs/)", `  ⎿  ${BANNER}`, "", "● Found it in the logs."]),
      state: "idle",
    },
    {
      name: "the banner typed into the input box, not submitted",
      spec: { turns: [DONE_TURN], input: BANNER },
      state: "idle",
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const verdict = classify(c.spec);
      assert.deepEqual({ state: verdict.state, limit: verdict.limit }, { state: c.state, limit: null });
    });
  }
});

describe("only the latest turn counts", () => {
  const limitTurn: Turn = { prompt: "go on", output: [`  ⎿  ${BANNER}`], done: "✻ Worked for 3s" };
  const errorTurn: Turn = {
    prompt: "go on",
    output: ["● API Error: 500 Internal server error."],
    done: "✻ Baked for 3s",
  };

  test("a limit banner above a later successful reply is history → idle", () => {
    assert.equal(classify({ turns: [limitTurn, DONE_TURN] }).state, "idle");
  });
  test("a limit banner above a later prompt that is running → busy", () => {
    assert.equal(classify({ turns: [limitTurn, { prompt: "next", output: [] }], status: ["✻ Musing…"] }).state, "busy");
  });
  test("a limit banner above a later prompt with no output yet → idle", () => {
    assert.equal(classify({ turns: [limitTurn, { prompt: "next", output: [] }] }).state, "idle");
  });
  test("an error above a later successful reply is history → idle", () => {
    assert.equal(classify({ turns: [errorTurn, DONE_TURN] }).state, "idle");
  });
  test("success then a limit → limit", () => {
    assert.equal(classify({ turns: [DONE_TURN, limitTurn] }).state, "limit");
  });
  test("the CLI's own /rate-limit-options turn is not later work → still limit", () => {
    const verdict = classify({ turns: [limitTurn, { prompt: "/rate-limit-options", output: [] }] });
    assert.equal(verdict.state, "limit");
  });
  test("a limit with text typed in the box is still a limit, and reports the text", () => {
    const verdict = classify({ turns: [limitTurn], input: "continue" });
    assert.deepEqual([verdict.state, verdict.inputText], ["limit", "continue"]);
  });
});

describe("the limit menu", () => {
  function menuScreen(banner: string | null, options: string[]): string {
    const top = buildScreen({
      turns:
        banner === null
          ? [DONE_TURN]
          : [DONE_TURN, { prompt: "go", output: [`  ⎿  ${banner}`], done: "✻ Baked for 3s" }],
    });
    const transcript = top.split("\n").slice(0, -5).join("\n");
    return [
      transcript,
      "─".repeat(120),
      "  What do you want to do?",
      "",
      ...options,
      "",
      "  Enter to confirm · Esc to cancel",
      "",
    ].join("\n");
  }

  test("options in another order: the wait option is read by its number", () => {
    const screen = menuScreen(BANNER, [
      "  ❯ 1. Upgrade your plan",
      "    2. Switch to extra usage",
      "    3. Stop and wait for limit to reset",
    ]);
    const verdict = classifyScreen(screen, { now: NOW });
    assert.deepEqual(
      {
        state: verdict.state,
        detail: verdict.detail,
        wait: verdict.limit?.menu?.waitOption,
        labels: verdict.limit?.menu?.options.map((o) => o.number),
      },
      { state: "limit", detail: "limit-menu", wait: 3, labels: [1, 2, 3] },
    );
  });

  test("the banner above the menu gives kind and reset time", () => {
    const verdict = classifyScreen(
      menuScreen(BANNER, ["  ❯ 1. Stop and wait for limit to reset", "    2. Request extra usage"]),
      { now: NOW },
    );
    assert.deepEqual([verdict.limit?.kind, iso(verdict.limit?.resetsAt)], ["session", "2025-06-14T15:00:00.000Z"]);
  });

  test("a menu with no banner left on screen is still a limit, kind usage, no reset time", () => {
    const verdict = classifyScreen(
      menuScreen(null, ["  ❯ 1. Stop and wait for limit to reset", "    2. Add funds to continue with extra usage"]),
      { now: NOW },
    );
    assert.deepEqual([verdict.state, verdict.limit?.kind, verdict.limit?.resetsAt], ["limit", "usage", null]);
  });

  test("'What do you want to do?' with unrelated options is a dialog, not a limit", () => {
    const verdict = classifyScreen(menuScreen(null, ["  ❯ 1. Keep the file", "    2. Delete the file"]), { now: NOW });
    assert.deepEqual([verdict.state, verdict.detail], ["dialog", "other"]);
  });
});
