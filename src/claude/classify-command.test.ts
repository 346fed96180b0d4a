import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { classifyText, formatVerdict } from "./classify-command.js";
import type { ScreenVerdict } from "./screen.js";
import { FIXTURE_NOW, buildScreen, readFixture } from "./test-screens.js";

const classifyFixture = (file: string): ScreenVerdict => classifyText(readFixture(file), FIXTURE_NOW, "UTC");

describe("formatVerdict --json", () => {
  const cases: { file: string; json: string }[] = [
    {
      file: "30-oauth-usage-limit-5h.txt",
      json: '{"state":"limit","detail":"limit-banner","limit":{"kind":"session","resets_at":"2025-11-28T00:57:00.000Z"}}',
    },
    {
      file: "32-oauth-pro-usage-limit-7d.txt",
      json: '{"state":"limit","detail":"limit-menu","limit":{"kind":"weekly","resets_at":"2025-11-30T03:41:00.000Z"}}',
    },
    { file: "07-reply-done.txt", json: '{"state":"idle","detail":"ready","limit":null}' },
    { file: "26-500-final.txt", json: '{"state":"error","detail":"api-500","limit":null}' },
    { file: "21-tool-permission-prompt.txt", json: '{"state":"dialog","detail":"permission-prompt","limit":null}' },
  ];
  for (const c of cases) {
    test(`${c.file} → ${c.json}`, () => {
      assert.equal(formatVerdict(classifyFixture(c.file), { json: true }), c.json);
    });
  }

  test("a limit with no reset time on screen has resets_at null", () => {
    const screen = buildScreen({
      turns: [{ prompt: "go", output: ["  ⎿  You've hit your weekly limit"], done: "✻ Baked for 3s" }],
    });
    assert.equal(
      formatVerdict(classifyText(screen, FIXTURE_NOW), { json: true }),
      '{"state":"limit","detail":"limit-banner","limit":{"kind":"weekly","resets_at":null}}',
    );
  });

  test("input text and the matched banner stay out of the JSON (exactly state, detail, limit)", () => {
    const parsed = JSON.parse(formatVerdict(classifyFixture("05-typing.txt"), { json: true })) as object;
    assert.deepEqual(Object.keys(parsed), ["state", "detail", "limit"]);
  });
});

describe("formatVerdict, plain", () => {
  test("a busy screen is one line", () => {
    assert.equal(formatVerdict(classifyFixture("06-busy-spinner.txt"), { json: false }), "busy (spinner)");
  });

  test("the limit menu: kind, reset, banner, and the number to press", () => {
    assert.equal(
      formatVerdict(classifyFixture("32-oauth-pro-usage-limit-7d.txt"), { json: false }),
      "limit (limit-menu): weekly limit, resets 2025-11-30T03:41:00.000Z\n" +
        '  "You\'ve hit your weekly limit · resets Nov 30, 3:41am (UTC)" · menu: 1. Stop and wait for limit to reset, 2. Upgrade your plan; wait = 1',
    );
  });

  test("pending input is shown, cut to 60 characters", () => {
    const screen = buildScreen({ turns: [], input: "x".repeat(100) });
    assert.equal(
      formatVerdict(classifyText(screen, FIXTURE_NOW), { json: false }),
      `idle (input-pending)\n  input: "${"x".repeat(59)}…"`,
    );
  });
});

describe("classifyText", () => {
  test("reads a reset time without a zone in the given host zone", () => {
    const screen = buildScreen({
      turns: [{ prompt: "go", output: ["  ⎿  You've hit your session limit · resets 3pm"] }],
    });
    const inUtc = classifyText(screen, FIXTURE_NOW, "UTC").limit?.resetsAt;
    const inNewYork = classifyText(screen, FIXTURE_NOW, "America/New_York").limit?.resetsAt;
    assert.deepEqual([inUtc, inNewYork], [Date.UTC(2025, 10, 27, 15), Date.UTC(2025, 10, 27, 20)]);
  });

  test("counts from the given now", () => {
    const text = readFixture("30-oauth-usage-limit-5h.txt");
    assert.equal(classifyText(text, Date.UTC(2025, 10, 28, 2), "UTC").limit?.resetsAt, Date.UTC(2025, 10, 29, 0, 57));
  });
});
