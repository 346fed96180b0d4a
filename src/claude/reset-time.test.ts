import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { parseResetTime, resetDeadline } from "./reset-time.js";

const at = (iso: string): number => Date.parse(iso);
const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

interface Case {
  text: string;
  now: string;
  hostZone?: string;
  expected: string | null;
}

function table(name: string, cases: Case[]): void {
  describe(name, () => {
    for (const c of cases) {
      test(`${JSON.stringify(c.text)} at ${c.now}${c.hostZone === undefined ? "" : ` (host ${c.hostZone})`} → ${c.expected}`, () => {
        assert.equal(iso(parseResetTime(c.text, { now: at(c.now), hostZone: c.hostZone })), c.expected);
      });
    }
  });
}

table("time of day: the next occurrence at or after now", [
  { text: "3pm", now: "2025-06-14T12:00:00Z", hostZone: "UTC", expected: "2025-06-14T15:00:00.000Z" },
  { text: "3pm", now: "2025-06-14T16:00:00Z", hostZone: "UTC", expected: "2025-06-15T15:00:00.000Z" },
  { text: "8:40pm", now: "2025-06-14T12:00:00Z", hostZone: "UTC", expected: "2025-06-14T20:40:00.000Z" },
  { text: "12:57am", now: "2025-06-14T12:00:00Z", hostZone: "UTC", expected: "2025-06-15T00:57:00.000Z" },
  { text: "12pm", now: "2025-06-14T08:00:00Z", hostZone: "UTC", expected: "2025-06-14T12:00:00.000Z" },
  // The CLI prints minutes: a reset shown for the current minute is this one, not tomorrow's; so is one
  // up to 15 minutes past (the wall met again right after a reset, the old banner still up).
  { text: "3pm", now: "2025-06-14T15:00:59Z", hostZone: "UTC", expected: "2025-06-14T15:00:00.000Z" },
  { text: "3pm", now: "2025-06-14T15:01:00Z", hostZone: "UTC", expected: "2025-06-14T15:00:00.000Z" },
  { text: "3pm", now: "2025-06-14T15:14:59Z", hostZone: "UTC", expected: "2025-06-14T15:00:00.000Z" },
  { text: "3pm", now: "2025-06-14T15:15:00Z", hostZone: "UTC", expected: "2025-06-15T15:00:00.000Z" },
  { text: "4:30 AM", now: "2025-06-14T01:00:00Z", hostZone: "UTC", expected: "2025-06-14T04:30:00.000Z" },
  { text: "4:30\u202fAM", now: "2025-06-14T01:00:00Z", hostZone: "UTC", expected: "2025-06-14T04:30:00.000Z" },
]);

table("around midnight", [
  { text: "12am (UTC)", now: "2025-06-14T23:59:00Z", expected: "2025-06-15T00:00:00.000Z" },
  { text: "11:59pm (UTC)", now: "2025-06-14T23:59:30Z", expected: "2025-06-14T23:59:00.000Z" },
  { text: "11:59pm (UTC)", now: "2025-06-15T00:00:00Z", expected: "2025-06-15T23:59:00.000Z" },
  // 00:30 on the 15th in Berlin while UTC is still on the 14th.
  { text: "12:15am (Europe/Berlin)", now: "2025-06-14T22:30:00Z", expected: "2025-06-15T22:15:00.000Z" },
  { text: "1am (Europe/Berlin)", now: "2025-06-14T22:30:00Z", expected: "2025-06-14T23:00:00.000Z" },
  { text: "Jan 1, 1am (UTC)", now: "2025-12-31T23:30:00Z", expected: "2026-01-01T01:00:00.000Z" },
  { text: "Dec 31, 11pm (UTC)", now: "2025-12-31T23:30:00Z", expected: "2026-12-31T23:00:00.000Z" },
]);

table("dates, with and without a year", [
  { text: "Dec 2, 7pm (Europe/Moscow)", now: "2025-06-14T12:00:00Z", expected: "2025-12-02T16:00:00.000Z" },
  { text: "Jul 27 at 4:30am (UTC)", now: "2025-06-14T12:00:00Z", expected: "2025-07-27T04:30:00.000Z" },
  { text: "Jan 3, 9am (UTC)", now: "2025-06-14T12:00:00Z", expected: "2026-01-03T09:00:00.000Z" },
  { text: "Nov 30, 2026, 3:41am (UTC)", now: "2025-06-14T12:00:00Z", expected: "2026-11-30T03:41:00.000Z" },
  { text: "Jul 27, 2026 at 4:30am (UTC)", now: "2025-06-14T12:00:00Z", expected: "2026-07-27T04:30:00.000Z" },
  // A date with a year has one occurrence, past or not.
  { text: "Jan 3, 2024, 9am (UTC)", now: "2025-06-14T12:00:00Z", expected: "2024-01-03T09:00:00.000Z" },
  { text: "Feb 29, 10am (UTC)", now: "2025-06-14T12:00:00Z", expected: "2028-02-29T10:00:00.000Z" },
  { text: "Feb 30, 3pm (UTC)", now: "2025-06-14T12:00:00Z", expected: null },
]);

table("zones: named, Etc/GMT sign convention, host zone, unknown", [
  // Etc/GMT+5 is five hours *behind* UTC (POSIX sign convention).
  { text: "1pm (Etc/GMT+5)", now: "2025-06-14T12:00:00Z", expected: "2025-06-14T18:00:00.000Z" },
  { text: "1pm (Etc/GMT-14)", now: "2025-06-14T12:00:00Z", expected: "2025-06-14T23:00:00.000Z" },
  { text: "1:20am (Europe/Vienna)", now: "2025-06-14T12:00:00Z", expected: "2025-06-14T23:20:00.000Z" },
  { text: "2pm (Pacific/Auckland)", now: "2025-06-14T12:00:00Z", expected: "2025-06-15T02:00:00.000Z" },
  { text: "9:30pm", now: "2025-06-14T12:00:00Z", hostZone: "Europe/Berlin", expected: "2025-06-14T19:30:00.000Z" },
  // A zone printed on screen wins over the host's.
  {
    text: "9:30pm (UTC)",
    now: "2025-06-14T12:00:00Z",
    hostZone: "Europe/Berlin",
    expected: "2025-06-14T21:30:00.000Z",
  },
  { text: "3pm (Mars/Olympus_Mons)", now: "2025-06-14T12:00:00Z", expected: null },
  { text: "3pm", now: "2025-06-14T12:00:00Z", hostZone: "Not/AZone", expected: null },
]);

table("DST: Europe/Berlin (last Sunday of March and October)", [
  { text: "Mar 30, 1am (Europe/Berlin)", now: "2025-03-29T12:00:00Z", expected: "2025-03-30T00:00:00.000Z" },
  { text: "Mar 30, 3am (Europe/Berlin)", now: "2025-03-29T12:00:00Z", expected: "2025-03-30T01:00:00.000Z" },
  // 02:30 does not exist that night: read as 03:30 summer time (the gap's width later).
  { text: "Mar 30, 2:30am (Europe/Berlin)", now: "2025-03-29T12:00:00Z", expected: "2025-03-30T01:30:00.000Z" },
  // Time only, across the change: now is 01:30 winter time, 9am is in summer time.
  { text: "9am (Europe/Berlin)", now: "2025-03-30T00:30:00Z", expected: "2025-03-30T07:00:00.000Z" },
  { text: "9am (Europe/Berlin)", now: "2025-03-29T12:00:00Z", expected: "2025-03-30T07:00:00.000Z" },
  // 02:30 happens twice in October: the first (summer time) one.
  { text: "Oct 26, 2:30am (Europe/Berlin)", now: "2025-10-25T12:00:00Z", expected: "2025-10-26T00:30:00.000Z" },
  { text: "Oct 26, 3am (Europe/Berlin)", now: "2025-10-25T12:00:00Z", expected: "2025-10-26T02:00:00.000Z" },
  { text: "Oct 26, 1am (Europe/Berlin)", now: "2025-10-25T12:00:00Z", expected: "2025-10-25T23:00:00.000Z" },
  { text: "9am (Europe/Berlin)", now: "2025-10-25T12:00:00Z", expected: "2025-10-26T08:00:00.000Z" },
]);

table("DST: America/New_York", [
  { text: "Mar 9, 2:30am (America/New_York)", now: "2025-03-08T17:00:00Z", expected: "2025-03-09T07:30:00.000Z" },
  { text: "9am (America/New_York)", now: "2025-03-08T17:00:00Z", expected: "2025-03-09T13:00:00.000Z" },
  { text: "Nov 2, 1:30am (America/New_York)", now: "2025-10-30T12:00:00Z", expected: "2025-11-02T05:30:00.000Z" },
  { text: "9am (America/New_York)", now: "2025-11-01T18:00:00Z", expected: "2025-11-02T14:00:00.000Z" },
]);

table("whole banners of every version", [
  {
    text: "You've hit your session limit · resets 1:20am (Europe/Vienna)",
    now: "2025-06-14T12:00:00Z",
    expected: "2025-06-14T23:20:00.000Z",
  },
  {
    text: "5-hour limit reached · resets 2pm (Pacific/Auckland) · /upgrade to Max 20x or turn on /extra-usage",
    now: "2025-06-14T12:00:00Z",
    expected: "2025-06-15T02:00:00.000Z",
  },
  {
    text: "Session limit reached ∙ resets 9:30pm",
    now: "2025-06-14T12:00:00Z",
    hostZone: "UTC",
    expected: "2025-06-14T21:30:00.000Z",
  },
  {
    text: "Claude usage limit reached. Your limit will reset at 1pm (Etc/GMT+5).",
    now: "2025-06-14T12:00:00Z",
    expected: "2025-06-14T18:00:00.000Z",
  },
  {
    text: "Claude AI usage limit reached|1749924000",
    now: "2025-06-14T12:00:00Z",
    expected: "2025-06-14T18:00:00.000Z",
  },
  {
    text: "You're now using extra usage · Your session limit resets 3pm (UTC)",
    now: "2025-06-14T12:00:00Z",
    expected: "2025-06-14T15:00:00.000Z",
  },
  // The reset after "resets", not an earlier time in the line.
  {
    text: "At 9am you've hit your limit · resets 3pm (UTC)",
    now: "2025-06-14T12:00:00Z",
    expected: "2025-06-14T15:00:00.000Z",
  },
]);

table("no reset time, or an impossible one → null", [
  { text: "", now: "2025-06-14T12:00:00Z", expected: null },
  { text: "You've hit your session limit", now: "2025-06-14T12:00:00Z", expected: null },
  { text: "resets in 2h 30m", now: "2025-06-14T12:00:00Z", expected: null },
  { text: "13pm", now: "2025-06-14T12:00:00Z", hostZone: "UTC", expected: null },
  { text: "0am", now: "2025-06-14T12:00:00Z", hostZone: "UTC", expected: null },
  { text: "3:75pm", now: "2025-06-14T12:00:00Z", hostZone: "UTC", expected: null },
]);

describe("parseResetTime properties", () => {
  test("without a zone it uses the process's zone", () => {
    const now = at("2025-06-14T12:00:00Z");
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    assert.equal(parseResetTime("3pm", { now }), parseResetTime("3pm", { now, hostZone: zone }));
  });

  test("random text never throws; the answer is null or a finite number", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: "binary", maxLength: 500 }), fc.string({ unit: "grapheme-ascii", maxLength: 500 })),
        fc.oneof(fc.integer({ min: -1e16, max: 1e16 }), fc.constantFrom(NaN, Infinity, -Infinity)),
        fc.option(fc.string({ maxLength: 30 }), { nil: undefined }),
        (text, now, hostZone) => {
          const result = parseResetTime(text, { now, hostZone });
          assert.ok(result === null || Number.isFinite(result));
        },
      ),
      { numRuns: 500 },
    );
  });

  test("random banner-shaped text never throws", () => {
    const piece = fc.constantFrom(
      "resets ",
      "reset at ",
      "Dec ",
      "Feb 29",
      ", ",
      " at ",
      "12",
      ":59",
      "7",
      "am",
      "pm",
      " (",
      ")",
      "Etc/GMT+5",
      "UTC",
      "|",
      "1749924000",
      "∙ ",
      " ",
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), fc.integer({ min: 0, max: 4e12 }), (pieces, now) => {
        const result = parseResetTime(pieces.join(""), { now, hostZone: "Europe/Berlin" });
        assert.ok(result === null || Number.isFinite(result));
      }),
      { numRuns: 500 },
    );
  });

  test("a time of day lands within a day of now and shows that time in its zone (outside DST gaps)", () => {
    const zones = [
      "UTC",
      "Europe/Berlin",
      "America/New_York",
      "Australia/Lord_Howe",
      "Asia/Kolkata",
      "Etc/GMT+5",
      "Pacific/Chatham",
    ];
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 0, max: 59 }),
        fc.constantFrom("am", "pm"),
        fc.constantFrom(...zones),
        fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2040, 0, 1) }),
        (hour, minute, half, zone, now) => {
          const text = `${hour}:${String(minute).padStart(2, "0")}${half} (${zone})`;
          const result = parseResetTime(text, { now, hostZone: "UTC" });
          assert.ok(result !== null && result > now - 15 * 60_000 && result <= now + 26 * 3_600_000, text);
          const shown = new Intl.DateTimeFormat("en-US", {
            timeZone: zone,
            hour: "numeric",
            minute: "2-digit",
            hour12: true,
          })
            .format(result)
            .replace(/\s/g, "")
            .toLowerCase();
          const offset = (t: number): string =>
            new Intl.DateTimeFormat("en-US", { timeZone: zone, timeZoneName: "longOffset" }).format(t);
          const inGap = offset(result) !== offset(result - 3 * 3_600_000);
          assert.ok(inGap || shown === `${hour}:${String(minute).padStart(2, "0")}${half}`, `${text} → ${shown}`);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("resetDeadline", () => {
  test("a reset printed to the minute is taken as the end of that minute (the real one was 20:09:48)", () => {
    const text = "You've hit your session limit · resets 8:09pm (UTC)";
    const parsed = parseResetTime(text, { now: at("2026-12-06T20:01:00Z") })!;
    assert.equal(iso(parsed), "2026-12-06T20:09:00.000Z");
    assert.deepEqual(resetDeadline(text, parsed), { at: at("2026-12-06T20:10:00Z"), exact: false });
  });
  test("the raw epoch form is exact: no minute added", () => {
    const text = "Claude AI usage limit reached|1749924000";
    assert.deepEqual(resetDeadline(text, 1749924000_000), { at: 1749924000_000, exact: true });
  });
});
