import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock } from "../lib/test-clock.js";
import { AccountLedger, LedgerError, ledgerSnapshotSchema, type LedgerSnapshot } from "./ledger.js";

const MIN = 60_000;
const HOUR = 60 * MIN;
const ACCOUNTS = [{ name: "main" }, { name: "backup" }, { name: "third" }];

function ledger(options: { active?: string | null; snapshot?: LedgerSnapshot; onChange?: (s: LedgerSnapshot) => void } = {}) {
  const clock = new FakeClock();
  const l = new AccountLedger({
    accounts: ACCOUNTS, active: options.active === undefined ? "main" : options.active, clock, usageThreshold: 98,
    ...(options.snapshot ? { snapshot: options.snapshot } : {}), ...(options.onChange ? { onChange: options.onChange } : {}),
  });
  return { l, clock };
}

const usage = (five: number, seven = 0, resetsAt: number | null = null) => ({
  fiveHour: { utilization: five, resetsAt }, sevenDay: { utilization: seven, resetsAt: null },
});

void describe("AccountLedger", () => {
  void test("starts with every account available and the given one active", () => {
    const { l } = ledger();
    assert.deepEqual(l.view().map((v) => [v.name, v.status]), [["main", "active"], ["backup", "available"], ["third", "available"]]);
  });

  void test("an unknown active account falls back to the first", () => {
    assert.equal(ledger({ active: "gone" }).l.active(), "main");
  });

  void test("an exhausted account becomes available again at its reset, by the clock", async () => {
    const { l, clock } = ledger();
    l.markExhausted("backup", clock.now() + HOUR, "screen");
    assert.equal(l.status("backup"), "exhausted");
    await clock.advance(HOUR - 1);
    assert.equal(l.isAvailable("backup"), false);
    await clock.advance(1);
    assert.equal(l.isAvailable("backup"), true);
    assert.deepEqual(l.refresh(), ["backup"]);
    assert.equal(l.snapshot().accounts.backup?.state, "available");
  });

  void test("a hit without a reset time is exhausted for the fallback period, flagged as a guess", () => {
    const { l, clock } = ledger();
    l.markExhausted("main", null, "screen");
    const v = l.view().find((a) => a.name === "main")!;
    assert.deepEqual([v.status, v.until, v.resetKnown, v.active], ["exhausted", clock.now() + HOUR, false, true]);
  });

  const merges: { name: string; first: number | null; second: number | null; until: number; known: boolean }[] = [
    { name: "a known reset replaces a guess", first: null, second: 3 * HOUR, until: 3 * HOUR, known: true },
    { name: "a guess never shortens or extends a known reset", first: 3 * HOUR, second: null, until: 3 * HOUR, known: true },
    { name: "the later of two known resets wins (weekly outlasts session)", first: 2 * HOUR, second: 50 * HOUR, until: 50 * HOUR, known: true },
    { name: "an earlier known reset does not shorten a later one", first: 50 * HOUR, second: 2 * HOUR, until: 50 * HOUR, known: true },
  ];
  for (const m of merges) {
    void test(`markExhausted: ${m.name}`, () => {
      const { l, clock } = ledger();
      const t0 = clock.now();
      l.markExhausted("backup", m.first === null ? null : t0 + m.first, "first");
      l.markExhausted("backup", m.second === null ? null : t0 + m.second, "second");
      const v = l.view().find((a) => a.name === "backup")!;
      assert.deepEqual([v.until, v.resetKnown], [t0 + m.until, m.known]);
    });
  }

  void test("next account: first available in config order, skipping the active and exhausted ones", () => {
    const { l, clock } = ledger();
    assert.equal(l.nextAccount(), "backup");
    l.markExhausted("backup", clock.now() + HOUR, "x");
    assert.equal(l.nextAccount(), "third");
    l.markBroken("third", "credentials-missing", "no .credentials.json");
    assert.equal(l.nextAccount(), null);
  });

  void test("next account: most headroom when every candidate has usage data", () => {
    const { l } = ledger();
    l.noteUsage("backup", usage(70));
    l.noteUsage("third", usage(10, 20));
    assert.equal(l.nextAccount(), "third");
    assert.equal(l.headroom("third"), 80);
  });

  void test("next account: partial usage data keeps config order but passes over an account known to be full", () => {
    const { l } = ledger();
    l.noteUsage("backup", usage(99));
    assert.equal(l.nextAccount(), "third");
  });

  void test("usage data goes stale, and a window past its reset counts as empty", async () => {
    const { l, clock } = ledger();
    l.noteUsage("backup", usage(90, 0, clock.now() + 10 * MIN));
    assert.equal(l.headroom("backup"), 10);
    await clock.advance(10 * MIN);
    assert.equal(l.headroom("backup"), 100);
    await clock.advance(31 * MIN);
    assert.equal(l.headroom("backup"), null);
  });

  void test("allExhausted and earliestReset (U5), broken accounts counting as unusable", () => {
    const { l, clock } = ledger();
    const t0 = clock.now();
    l.markExhausted("main", t0 + 3 * HOUR, "a");
    l.markExhausted("backup", t0 + 2 * HOUR, "b");
    assert.equal(l.allExhausted(), false);
    l.markBroken("third", "credentials-expired", "token expired");
    assert.equal(l.allExhausted(), true);
    assert.equal(l.earliestReset(), t0 + 2 * HOUR);
    l.clearBroken("third");
    assert.equal(l.allExhausted(), false);
  });

  void test("the snapshot round-trips through JSON and the zod schema; unconfigured entries are dropped", () => {
    const changes: LedgerSnapshot[] = [];
    const { l, clock } = ledger({ onChange: (s) => changes.push(s) });
    l.markExhausted("backup", clock.now() + HOUR, "hook: You've hit your session limit");
    l.markBroken("third", "links-broken", "projects is a folder");
    const json = JSON.parse(JSON.stringify(l.snapshot())) as unknown;
    const parsed = ledgerSnapshotSchema.parse({ accounts: { ...(json as LedgerSnapshot).accounts, old: { state: "available" } } });
    const again = new AccountLedger({ accounts: ACCOUNTS, active: "main", clock, snapshot: parsed });
    assert.deepEqual(again.snapshot(), l.snapshot());
    assert.equal(changes.length, 2);
  });

  void test("markAvailable is the operator's override of an exhausted mark, not of a broken one", () => {
    const { l, clock } = ledger();
    l.markExhausted("backup", clock.now() + HOUR, "x");
    l.markBroken("third", "credentials-missing", "none");
    l.markAvailable("backup");
    l.markAvailable("third");
    assert.deepEqual([l.status("backup"), l.status("third")], ["available", "broken"]);
  });

  void test("an unknown account name is a typed error", () => {
    const { l } = ledger();
    assert.throws(() => l.markExhausted("nobody", null, "x"), (err: unknown) => err instanceof LedgerError && err.code === "LEDGER_UNKNOWN_ACCOUNT");
  });
});
