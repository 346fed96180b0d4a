import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { HookEvent } from "../claude/hooks.js";
import type { ScreenVerdict } from "../claude/screen.js";
import { readTranscript, type ApiErrorLine } from "../claude/transcripts.js";
import type { AccountUsage } from "../claude/usage-api.js";
import { FIXTURE_DIR } from "../claude/test-screens.js";
import { AccountLedger } from "../accounts/ledger.js";
import { FakeClock } from "../lib/test-clock.js";
import { silentLogger } from "../lib/logger.js";
import type { QuotaDecisionEvent } from "../state/events.js";
import { QuotaMonitor, type QuotaDecision, type SuppressReason } from "./monitor.js";
import { hookOf, NOW, screens, stopFailure } from "./test-verdicts.js";

const MIN = 60_000;
const COOLDOWN = 5 * MIN;
const BANNER = "You've hit your session limit · resets 1:20am (Europe/Vienna)\n/upgrade to increase your usage limit.";

/** Real synthetic API-error lines from the sample transcript: 429 throttling, 500, 529, and the weekly limit. */
let lines: { throttle: ApiErrorLine; e500: ApiErrorLine; e529: ApiErrorLine; weekly: ApiErrorLine };
before(async () => {
  const t = await readTranscript(`${FIXTURE_DIR}/transcript-samples.jsonl`);
  const [throttle, e500, e529, weekly] = t.apiErrors;
  assert.ok(throttle && e500 && e529 && weekly && weekly.usageLimit && !throttle.usageLimit);
  lines = { throttle, e500, e529, weekly };
});

type Step =
  | { hook: HookEvent; session?: string; account?: string }
  | { screen: () => ScreenVerdict; session?: string; account?: string; times?: number; agent?: string }
  | { transcript: () => ApiErrorLine; session?: string; account?: string; since?: number }
  | { usage: AccountUsage; account: string }
  | { exhaust: string; inMs: number }
  | { resumed: string; agent?: string }
  | { advance: number }
  | { tick: true };

const use = (five: number, seven = 0): AccountUsage => ({
  fiveHour: { utilization: five, resetsAt: NOW + 3 * 60 * MIN }, sevenDay: { utilization: seven, resetsAt: NOW + 4 * 24 * 60 * MIN },
});

/** Feeds the steps; a swap decision is carried out (the ledger's active account moves) as the switcher would. */
function run(steps: readonly Step[]) {
  const clock = new FakeClock(NOW);
  const ledger = new AccountLedger({ accounts: [{ name: "main" }, { name: "backup" }, { name: "third" }], active: "main", clock });
  const records: QuotaDecisionEvent[] = [];
  const monitor = new QuotaMonitor({
    ledger, clock, log: silentLogger(), record: (r) => records.push(r),
    settings: { confirmPolls: 2, reactivateCooldownMs: COOLDOWN, usageThreshold: 98, hostZone: "UTC" },
  });
  const decisions: QuotaDecision[] = [];
  const take = (ds: QuotaDecision[]): void => {
    for (const d of ds) {
      decisions.push(d);
      if (d.kind === "swap") ledger.setActive(d.to);
    }
  };
  const run = async (): Promise<void> => {
    for (const step of steps) {
      const session = "session" in step ? (step.session ?? "ccl-auto-11") : "ccl-auto-11";
      const account = "account" in step && step.account !== undefined ? step.account : (ledger.active() ?? "main");
      if ("hook" in step) take(monitor.observeHook(step.hook, session, account));
      else if ("screen" in step) for (let i = 0; i < (step.times ?? 1); i++) take(monitor.observeScreen(step.screen(), session, account, step.agent));
      else if ("transcript" in step) take(monitor.observeTranscriptError(step.transcript(), session, account, step.since));
      else if ("usage" in step) take(monitor.observeUsage(step.account, step.usage));
      else if ("exhaust" in step) ledger.markExhausted(step.exhaust, clock.now() + step.inMs, "test");
      else if ("resumed" in step) monitor.noteResumed(step.resumed, step.agent);
      else if ("advance" in step) await clock.advance(step.advance);
      else take(monitor.tick());
    }
  };
  return { run, decisions, records, ledger, clock };
}

interface Case {
  name: string;
  steps: Step[];
  /** Decisions, as kind:from>to:source (swap), kind:account (exhausted, resume). */
  expect: string[];
  /** Suppression reasons that must appear among the forensic records. */
  suppressed?: SuppressReason[];
  check?: (r: ReturnType<typeof run>) => void;
}

const summary = (d: QuotaDecision): string =>
  d.kind === "swap" ? `swap:${d.from}>${d.to}:${d.source}` : `${d.kind}:${d.account}`;

const cases: Case[] = [
  {
    name: "U1: a 5xx storm (screen, hooks, transcript) never swaps",
    steps: [
      { screen: screens.error500, times: 10 }, { screen: screens.overloaded, times: 5 }, { screen: screens.rejected429, times: 5 },
      { hook: stopFailure("API Error: 500 Internal server error", "server_error") },
      // A 500 whose text says "rate limit" is still a 500.
      { hook: stopFailure('API Error: 500 {"type":"error","error":{"type":"api_error","message":"rate limit exceeded upstream"}}') },
      { transcript: () => lines.e500 }, { transcript: () => lines.e529 },
    ],
    expect: [],
    check: ({ ledger }) => assert.equal(ledger.status("main"), "active"),
  },
  {
    name: "U2: one hit without a reset time, then a normal screen: no swap, logged as pending then cleared",
    steps: [{ screen: screens.limitNoReset }, { screen: screens.idle }, { screen: screens.idle }],
    expect: [],
    suppressed: ["unconfirmed"],
    check: ({ records, ledger }) => {
      assert.deepEqual(records.map((r) => r.outcome), ["pending", "suppressed"]);
      assert.equal(ledger.status("main"), "active");
    },
  },
  {
    name: "U2: confirm_polls consecutive polls without a reset time: one swap",
    steps: [{ screen: screens.limitNoReset, times: 4 }],
    expect: ["swap:main>backup:screen"],
    check: ({ decisions }) => assert.equal(decisions[0]?.kind === "swap" && decisions[0].resetsAt, null),
  },
  {
    name: "U2: a non-limit verdict between two sightings resets the count",
    steps: [{ screen: screens.limitNoReset }, { screen: screens.busy }, { screen: screens.limitNoReset }, { screen: screens.error500 }, { screen: screens.limitNoReset }],
    expect: [],
  },
  {
    name: "U2: a reset time on screen confirms at once",
    steps: [{ screen: screens.limitWithReset }],
    expect: ["swap:main>backup:screen"],
    check: ({ decisions, ledger }) => {
      const d = decisions[0]!;
      // Printed to the minute: the real reset may be as late as 00:57:59, so it counts from 00:58; the
      // account is used again a grace period (60 s) after that.
      assert.equal(d.kind === "swap" && d.resetsAt, Date.UTC(2025, 10, 28, 0, 58));
      assert.equal(d.kind === "swap" && d.matchedText, "You've hit your session limit · resets 12:57am (UTC)");
      assert.equal(ledger.view()[0]?.until, Date.UTC(2025, 10, 28, 0, 59));
    },
  },
  {
    name: "U2: the limit menu with a reset above it confirms at once",
    steps: [{ screen: screens.limitMenu }],
    expect: ["swap:main>backup:screen"],
  },
  {
    name: "U4: a second hit inside the cooldown does not swap, and is logged as suppressed",
    steps: [{ screen: screens.limitWithReset }, { advance: MIN }, { hook: stopFailure(BANNER), session: "ccl-auto-12" }, { tick: true }],
    expect: ["swap:main>backup:screen"],
    suppressed: ["cooldown"],
    check: ({ records }) => {
      const r = records.find((x) => x.why === "cooldown")!;
      assert.deepEqual([r.session, r.source, r.account], ["ccl-auto-12", "hook", "backup"]);
      assert.ok(r.matchedText.length <= 120 && r.matchedText.startsWith("You've hit your session limit"));
    },
  },
  {
    name: "U4: the swap held back by the cooldown happens at the first tick after it",
    steps: [{ screen: screens.limitWithReset }, { advance: MIN }, { hook: stopFailure(BANNER), session: "ccl-auto-12" }, { advance: COOLDOWN - MIN - 1 }, { tick: true }, { advance: 1 }, { tick: true }],
    expect: ["swap:main>backup:screen", "swap:backup>third:ledger"],
  },
  {
    name: "U1: a usage warning at 91 % (screen and hook) never swaps",
    steps: [{ screen: screens.warning, times: 5 }, { hook: stopFailure("You've used 91% of your session limit · resets 8:40pm (Europe/Berlin)") }],
    expect: [],
    suppressed: ["not-a-usage-limit"],
  },
  {
    name: "U1: StopFailure rate_limit with 'not your usage limit' is throttling",
    steps: [{ hook: stopFailure("API Error: Server is temporarily limiting requests (not your usage limit) · Rate limited") }, { transcript: () => lines.throttle }],
    expect: [],
    suppressed: ["not-a-usage-limit"],
  },
  {
    name: "U3: StopFailure with the banner swaps at once, reset parsed from the text",
    steps: [{ hook: stopFailure(BANNER) }],
    expect: ["swap:main>backup:hook"],
    check: ({ decisions }) => assert.equal(decisions[0]?.kind === "swap" && decisions[0].resetsAt, Date.UTC(2025, 10, 28, 0, 21)),
  },
  {
    name: "U3: the transcript's synthetic usage-limit line swaps",
    steps: [{ transcript: () => lines.weekly }],
    expect: ["swap:main>backup:transcript"],
  },
  {
    name: "U3: hook, screen and transcript of the same turn make one decision",
    steps: [{ hook: stopFailure(BANNER) }, { screen: screens.limitWithReset, times: 3 }, { transcript: () => lines.weekly }, { tick: true }],
    expect: ["swap:main>backup:hook"],
    check: ({ records }) => assert.equal(records.filter((r) => r.why === "duplicate").length, 2),
  },
  {
    name: "U3: the same transcript line read twice is one sighting",
    steps: [{ transcript: () => lines.weekly, session: "ccl-auto-12", account: "backup" }, { transcript: () => lines.weekly, session: "ccl-auto-13", account: "main" }],
    expect: [],
    check: ({ ledger }) => assert.deepEqual([ledger.status("backup"), ledger.status("main")], ["exhausted", "active"]),
  },
  {
    name: "a transcript line older than the current work is history",
    steps: [{ transcript: () => lines.weekly, since: Date.parse("2026-11-26T22:41:34Z") }],
    expect: [],
    suppressed: ["history"],
  },
  {
    name: "a late hit from a session on a non-active account marks it exhausted, no swap",
    steps: [{ screen: screens.limitWithReset, account: "backup", session: "ccl-1-conformvault" }],
    expect: [],
    suppressed: ["not-active"],
    check: ({ ledger }) => assert.deepEqual([ledger.status("backup"), ledger.active(), ledger.nextAccount()], ["exhausted", "main", "third"]),
  },
  {
    name: "proactive: usage ≥ threshold on the active account swaps to the one with the most headroom",
    steps: [{ usage: use(60), account: "backup" }, { usage: use(5, 30), account: "third" }, { usage: use(97), account: "main" }, { usage: use(98.4), account: "main" }],
    expect: ["swap:main>third:usage-api"],
    check: ({ ledger, decisions }) => {
      assert.equal(ledger.status("main"), "exhausted");
      assert.ok(decisions[0]?.kind === "swap" && decisions[0].session === null && decisions[0].resetsAt === NOW + 3 * 60 * MIN);
    },
  },
  {
    name: "proactive: no swap when no other account has more headroom (logged once)",
    steps: [{ usage: use(99), account: "backup" }, { usage: use(99.5), account: "third" }, { usage: use(98.5), account: "main" }, { usage: use(98.7), account: "main" }],
    expect: [],
    suppressed: ["no-better-account"],
    check: ({ records, ledger }) => {
      assert.equal(records.filter((r) => r.why === "no-better-account").length, 1);
      assert.equal(ledger.status("main"), "active");
    },
  },
  {
    name: "U5: all exhausted → one exhausted decision with the earliest reset; the first account back is swapped to",
    steps: [
      { exhaust: "backup", inMs: 90 * MIN }, { exhaust: "third", inMs: 20 * 60 * MIN },
      { hook: stopFailure(BANNER) }, { screen: screens.limitWithReset, session: "ccl-auto-12" }, { tick: true },
      { advance: 90 * MIN }, { tick: true },
    ],
    expect: ["exhausted:main", "swap:main>backup:ledger"],
    suppressed: ["all-exhausted"],
    check: ({ decisions }) => assert.ok(decisions[0]?.kind === "exhausted" && decisions[0].resetsAt === NOW + 90 * MIN),
  },
  {
    name: "U5: all exhausted and the active account comes back first → resume on it",
    steps: [
      { exhaust: "backup", inMs: 20 * 60 * MIN }, { exhaust: "third", inMs: 20 * 60 * MIN },
      { screen: screens.limitWithReset }, { advance: 13 * 60 * MIN }, { tick: true },
    ],
    expect: ["exhausted:main", "resume:main"],
  },
  {
    name: "a session relaunched with --resume replays the old banner: history, until new work shows",
    steps: [
      { screen: screens.limitWithReset, session: "ccl-1-conformvault" }, { advance: COOLDOWN + 1 },
      { resumed: "ccl-1-conformvault" }, { screen: screens.limitWithReset, session: "ccl-1-conformvault", times: 3 },
      { hook: hookOf("UserPromptSubmit"), session: "ccl-1-conformvault" }, { screen: screens.limitWithReset, session: "ccl-1-conformvault" },
    ],
    expect: ["swap:main>backup:screen", "swap:backup>third:screen"],
    suppressed: ["history"],
  },
  {
    // A pool session: the task resumed after a swap ended with no busy frame seen (no hooks), the
    // session was recycled, and its next agent met the limit. The replay was the old agent's.
    name: "a replay noted for one agent does not hide the next agent's limit in the same session",
    steps: [
      { screen: screens.limitWithReset, agent: "agent-a" }, { advance: COOLDOWN + 1 },
      { resumed: "ccl-auto-11", agent: "agent-a" }, { screen: screens.limitWithReset, agent: "agent-a", times: 2 },
      { screen: screens.limitWithReset, agent: "agent-b" },
    ],
    expect: ["swap:main>backup:screen", "swap:backup>third:screen"],
    suppressed: ["history"],
  },
];

void describe("QuotaMonitor", () => {
  for (const c of cases) {
    void test(c.name, async () => {
      const r = run(c.steps);
      await r.run();
      assert.deepEqual(r.decisions.map(summary), c.expect);
      for (const why of c.suppressed ?? []) assert.ok(r.records.some((x) => x.outcome === "suppressed" && x.why === why), `a record suppressed for ${why}`);
      c.check?.(r);
    });
  }

  void test("every decision leaves a forensic record with session, source, text ≤ 120 and reset", async () => {
    const r = run([{ hook: stopFailure(`${"You've hit your session limit · resets 1:20am (Europe/Vienna) ".repeat(4)}`) }]);
    await r.run();
    const rec = r.records.find((x) => x.outcome === "swap")!;
    assert.deepEqual([rec.session, rec.source, rec.to, rec.resetsAt, rec.resetFrom], ["ccl-auto-11", "hook", "backup", Date.UTC(2025, 10, 28, 0, 21), "minute"]);
    assert.ok(rec.matchedText.length <= 120);
  });

  void test("holds(): a confirmed limit is held until new work; a vetoed or unconfirmed sighting is not", () => {
    const clock = new FakeClock(NOW);
    const ledger = new AccountLedger({ accounts: [{ name: "main" }, { name: "backup" }], active: "main", clock });
    const monitor = new QuotaMonitor({ ledger, clock, log: silentLogger(), record: () => undefined, settings: { confirmPolls: 2, reactivateCooldownMs: COOLDOWN, usageThreshold: 98 } });
    const agent = "0b6f8a52-5f4e-4a43-9a53-7d7d1c1b2e01";
    monitor.observeHook(stopFailure("API Error: Server is temporarily limiting requests (not your usage limit) · Rate limited"), "s1", "main");
    assert.equal(monitor.holds("s1", agent), false, "throttling is vetoed");
    monitor.observeScreen(screens.limitNoReset(), "s2", "main", agent);
    assert.equal(monitor.holds("s2", agent), false, "one poll without a reset time is not confirmed");
    monitor.observeScreen(screens.limitWithReset(), "s3", "main", agent);
    assert.equal(monitor.holds("s3", agent), true);
    assert.equal(monitor.holds("s3", "1c7a9b63-6a5f-4b54-8b64-8e8e2d2c3f12"), false, "another agent in the session");
    monitor.noteSubmitted("s3", agent);
    assert.equal(monitor.holds("s3", agent), false, "new work ends it");
  });

  void test("a manual swap (lastSwapAt) starts the cooldown too", async () => {
    const clock = new FakeClock(NOW);
    const ledger = new AccountLedger({ accounts: [{ name: "main" }, { name: "backup" }], active: "main", clock });
    const monitor = new QuotaMonitor({
      ledger, clock, log: silentLogger(), record: () => undefined, lastSwapAt: () => NOW - MIN,
      settings: { confirmPolls: 2, reactivateCooldownMs: COOLDOWN, usageThreshold: 98 },
    });
    assert.deepEqual(monitor.observeScreen(screens.limitWithReset(), "ccl-auto-11", "main"), []);
    await clock.advance(COOLDOWN - MIN);
    assert.deepEqual(monitor.tick().map(summary), ["swap:main>backup:ledger"]);
  });
});
