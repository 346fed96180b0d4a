import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { FakeClock } from "../lib/test-clock.js";
import { silentLogger } from "../lib/logger.js";
import { BUDGET_FILE, DailyBudget, utcDay } from "./budget.js";

const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function setup(limitUsd = 1) {
  const stateDir = await mkdtemp(path.join(os.tmpdir(), "cf-budget-"));
  dirs.push(stateDir);
  const clock = new FakeClock(Date.UTC(2026, 3, 17, 23, 0, 0));
  const make = () => new DailyBudget({ stateDir, limitUsd, clock, log: silentLogger() });
  return { stateDir, clock, make };
}

describe("DailyBudget", () => {
  test("sums costs per job id, once each, and says when the limit is reached", async () => {
    const { make } = await setup(1);
    const b = make();
    await b.add("job-1", 0.6);
    await b.add("job-1", 0.6);
    assert.deepEqual([b.spentToday(), b.reached()], [0.6, false]);
    await b.add("job-2", 0.4);
    assert.deepEqual(b.snapshot(), { day: "2026-04-17", spent_usd: 1, daily_budget_usd: 1, reached: true });
  });

  test("no budget (0) is never reached", async () => {
    const { make } = await setup(0);
    const b = make();
    await b.add("job-1", 1000);
    assert.equal(b.reached(), false);
    assert.equal(await b.claimNotice(), false);
  });

  test("the notice is claimed once per day, across a restart", async () => {
    const { make, clock } = await setup(0.5);
    const b = make();
    assert.equal(await b.claimNotice(), false, "not reached yet");
    await b.add("job-1", 0.5);
    assert.deepEqual([await b.claimNotice(), await b.claimNotice()], [true, false]);
    const again = make();
    await again.load();
    assert.deepEqual([again.spentToday(), await again.claimNotice()], [0.5, false]);
    await clock.advance(3_600_000);
    assert.deepEqual(again.snapshot(), { day: "2026-04-18", spent_usd: 0, daily_budget_usd: 0.5, reached: false });
    await again.add("job-2", 0.7);
    assert.equal(await again.claimNotice(), true);
  });

  test("the state file is JSON with the day's spend; a malformed one counts from zero", async () => {
    const { make, stateDir } = await setup(1);
    const b = make();
    await b.add("job-1", 0.25);
    const saved = JSON.parse(await readFile(path.join(stateDir, BUDGET_FILE), "utf8")) as Record<string, unknown>;
    assert.deepEqual(saved, { day: "2026-04-17", spent_usd: 0.25, jobs: { "job-1": 0.25 }, notified: false });
    await writeFile(path.join(stateDir, BUDGET_FILE), "{nope");
    const fresh = make();
    await fresh.load();
    assert.equal(fresh.spentToday(), 0);
  });

  test("negative or non-finite costs are ignored", async () => {
    const { make } = await setup(1);
    const b = make();
    await b.add("a", -1);
    await b.add("b", Number.NaN);
    assert.equal(b.spentToday(), 0);
  });

  test("utcDay is the UTC date", () => {
    assert.equal(utcDay(Date.UTC(2026, 0, 1, 23, 59, 59)), "2026-01-01");
  });
});
