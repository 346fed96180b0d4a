import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { AccountLedger } from "../accounts/ledger.js";
import { parseResetTime } from "../claude/reset-time.js";
import { FakeClock } from "../lib/test-clock.js";
import { silentLogger } from "../lib/logger.js";
import type { QuotaDecisionEvent } from "../state/events.js";
import { QuotaMonitor, type QuotaDecision } from "./monitor.js";
import { ResetReckoner } from "./reset-reckoner.js";
import { stopFailure } from "./test-verdicts.js";

const MIN = 60_000;
const at = (hms: string): number => Date.parse(`2026-12-06T${hms}Z`);
const BANNER = "You've hit your session limit · resets 8:09pm (UTC)";
const shown = (text: string, now: number): number | null => parseResetTime(text, { now, hostZone: "UTC" });

describe("ResetReckoner", () => {
  test("a reset printed to the minute: used again only after the end of that minute plus the grace", () => {
    const clock = new FakeClock(at("20:01:00"));
    const r = new ResetReckoner(clock, { graceMs: 30_000 });
    const got = r.reckon({ account: "main", source: "screen", text: BANNER, resetsAt: shown(BANNER, clock.now()) });
    assert.deepEqual([got.resetsAt, got.until, got.from], [at("20:10:00"), at("20:10:30"), "minute"]);
  });

  test("a reset shown for the minute under way is still known (not an hour's guess)", () => {
    const clock = new FakeClock(at("20:09:05"));
    const r = new ResetReckoner(clock, { graceMs: 30_000 });
    const got = r.reckon({ account: "main", source: "hook", text: BANNER, resetsAt: shown(BANNER, clock.now()) });
    assert.deepEqual([got.until, got.from], [at("20:10:30"), "minute"]);
  });

  test("an exact reset is preferred: the raw epoch form, or a usage reading's reset inside the printed minute", () => {
    const clock = new FakeClock(at("20:01:00"));
    const r = new ResetReckoner(clock, { graceMs: 30_000 });
    const epoch = Math.floor(at("20:09:48") / 1000);
    const raw = r.reckon({ account: "main", source: "transcript", text: `Claude AI usage limit reached|${epoch}`, resetsAt: epoch * 1000 });
    assert.deepEqual([raw.resetsAt, raw.until, raw.from], [at("20:09:48"), at("20:10:18"), "exact"]);
    r.noteUsage("main", { fiveHour: { utilization: 100, resetsAt: at("20:09:48") }, sevenDay: { utilization: 40, resetsAt: at("23:00:00") } });
    const viaUsage = r.reckon({ account: "main", source: "screen", text: BANNER, resetsAt: shown(BANNER, clock.now()) });
    assert.deepEqual([viaUsage.resetsAt, viaUsage.until, viaUsage.from], [at("20:09:48"), at("20:10:18"), "usage-api"]);
    // Another account's reading, or one whose reset is outside the printed minute, is not this reset.
    const other = r.reckon({ account: "backup", source: "screen", text: BANNER, resetsAt: shown(BANNER, clock.now()) });
    assert.equal(other.from, "minute");
  });

  test("a resume that meets the wall again backs off 1, 2, 4 … minutes, capped; never before a later known reset", () => {
    const clock = new FakeClock(at("20:10:30"));
    const r = new ResetReckoner(clock, { graceMs: 30_000, backoffFirstMs: MIN, backoffMaxMs: 4 * MIN });
    r.noteBack("main");
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      const got = r.reckon({ account: "main", source: "hook", text: "You've hit your session limit", resetsAt: null });
      assert.equal(got.from, "backoff");
      delays.push(got.until! - clock.now());
    }
    assert.deepEqual(delays, [MIN, 2 * MIN, 4 * MIN, 4 * MIN]);
    // A reset three hours ahead is a new window: it wins over the backoff.
    const later = "You've hit your session limit · resets 11:30pm (UTC)";
    const got = r.reckon({ account: "main", source: "hook", text: later, resetsAt: shown(later, clock.now()) });
    assert.deepEqual([got.until, got.from], [at("23:31:30"), "minute"]);
  });

  test("the backoff starts over after a turn that ends normally, and a hit long after the resume is a new limit", async () => {
    const clock = new FakeClock(at("20:10:30"));
    const r = new ResetReckoner(clock, { graceMs: 0, backoffFirstMs: MIN, recoveryMs: 30 * MIN });
    const hit = { account: "main", source: "hook", text: "You've hit your session limit", resetsAt: null };
    r.noteBack("main");
    r.reckon(hit);
    r.noteSuccess("main");
    assert.equal(r.reckon(hit).from, "unknown");
    r.noteBack("main");
    await clock.advance(at("20:41:00") - clock.now());
    assert.deepEqual([r.reckon(hit).from, r.reckon(hit).until], ["unknown", null]);
  });
});

/** On the fake clock: every account out, the reset at 20:09:48, shown as "8:09pm". */
describe("QuotaMonitor: a reset late in its minute", () => {
  function world() {
    const clock = new FakeClock(at("20:01:00"));
    const ledger = new AccountLedger({ accounts: [{ name: "main" }, { name: "backup" }], active: "main", clock });
    const records: QuotaDecisionEvent[] = [];
    const monitor = new QuotaMonitor({
      ledger, clock, log: silentLogger(), record: (x) => records.push(x),
      settings: { confirmPolls: 2, reactivateCooldownMs: 0, usageThreshold: 98, hostZone: "UTC", reset: { graceMs: 30_000, backoffFirstMs: MIN } },
    });
    return { clock, ledger, monitor, records };
  }
  const kinds = (ds: QuotaDecision[]): string[] => ds.map((d) => d.kind);

  test("never resumed before the end of the shown minute plus the grace; a second wall backs off; the interrupted session is listed", async () => {
    const { clock, ledger, monitor, records } = world();
    ledger.markExhausted("backup", at("20:05:00"), "test");
    assert.deepEqual(kinds(monitor.observeHook(stopFailure(BANNER, "rate_limit", "agent-1"), "s1", "main")), ["exhausted"]);
    assert.deepEqual(monitor.interrupted(), [{ session: "s1", agent: "agent-1", account: "main" }]);
    // backup came back at 20:05: a swap to it (the swap resumes the work there) — leave it out of this test.
    ledger.markExhausted("backup", at("23:00:00"), "test");
    for (const t of ["20:09:05", "20:09:50", "20:10:00", "20:10:29"]) {
      await clock.advance(at(t) - clock.now());
      assert.deepEqual(kinds(monitor.tick()), [], `nothing at ${t}`);
      assert.equal(monitor.waitingForReset, true);
    }
    await clock.advance(at("20:10:30") - clock.now());
    assert.deepEqual(kinds(monitor.tick()), ["resume"]);
    // The continuation meets the wall again (the screen still says 8:09pm): back off, not an hour.
    monitor.noteSubmitted("s1", "agent-1");
    await clock.advance(at("20:10:35") - clock.now());
    assert.deepEqual(kinds(monitor.observeHook(stopFailure(BANNER, "rate_limit", "agent-1"), "s1", "main")), ["exhausted"]);
    const until = ledger.view().find((a) => a.name === "main")!.until!;
    assert.equal(until, at("20:11:35"));
    assert.equal(records.at(-1)?.resetFrom, "backoff");
    await clock.advance(at("20:11:35") - clock.now());
    assert.deepEqual(kinds(monitor.tick()), ["resume"]);
  });
});
