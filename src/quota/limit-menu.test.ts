import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { LimitMenu, ScreenVerdict } from "../claude/screen.js";
import { AccountLedger } from "../accounts/ledger.js";
import { FakeClock } from "../lib/test-clock.js";
import { limitMenuKey, planResume, type ResumeSession } from "./limit-menu.js";
import { menuVerdict, NOW, screens } from "./test-verdicts.js";

const HOUR = 3_600_000;

/** A menu of ten options, "Stop and wait" at `wait`. */
function tenOptions(wait: number): LimitMenu {
  const options = Array.from({ length: 10 }, (_, i) => ({ number: i + 1, label: i + 1 === wait ? "Stop and wait for limit to reset" : `Other choice ${i + 1}` }));
  return { options, waitOption: wait };
}

void describe("limitMenuKey (U5: never a blind Enter)", () => {
  const cases: { name: string; menu: LimitMenu | null; key: string | null }[] = [
    { name: "the real 2.x menu (fixture 32)", menu: screens.limitMenu().limit!.menu, key: "1" },
    {
      name: "another version's order: wait is option 3",
      menu: { options: [{ number: 1, label: "Switch to extra usage" }, { number: 2, label: "Upgrade your plan" }, { number: 3, label: "Stop and wait for limit to reset" }], waitOption: 3 },
      key: "3",
    },
    {
      name: "waitOption pointing at a label that is not 'Stop and wait' is not trusted",
      menu: { options: [{ number: 1, label: "Add funds to continue with extra usage" }, { number: 2, label: "Stop and wait for limit to reset" }], waitOption: 1 },
      key: "2",
    },
    { name: "no wait option: press nothing", menu: { options: [{ number: 1, label: "Upgrade your plan" }, { number: 2, label: "Request extra usage" }], waitOption: null }, key: null },
    { name: "no menu", menu: null, key: null },
    { name: "wait is option 10: no single key picks it (a '1' would pick option 1)", menu: tenOptions(10), key: null },
    { name: "wait is option 0: no key for it", menu: { options: [{ number: 0, label: "Stop and wait for limit to reset" }, { number: 1, label: "Upgrade your plan" }], waitOption: 0 }, key: null },
  ];
  for (const c of cases) void test(c.name, () => assert.equal(limitMenuKey(c.menu), c.key));
});

void describe("planResume", () => {
  function setup(resets: { main: number; backup: number }) {
    const clock = new FakeClock(NOW);
    const ledger = new AccountLedger({ accounts: [{ name: "main" }, { name: "backup" }], active: "main", clock });
    ledger.markExhausted("main", NOW + resets.main, "hit");
    ledger.markExhausted("backup", NOW + resets.backup, "hit");
    return { clock, ledger };
  }
  const session = (name: string, verdict: ScreenVerdict, extra: Partial<ResumeSession> = {}): ResumeSession => ({
    session: name, verdict, account: "main", interrupted: true, ...extra,
  });
  const sessions = (): ResumeSession[] => [
    session("ccl-auto-11", screens.limitMenu()),
    session("ccl-auto-12", screens.limitWithReset()),
    session("ccl-auto-13", screens.busy()),
    session("ccl-auto-14", menuVerdict({ options: [{ number: 1, label: "Upgrade your plan" }], waitOption: null })),
    session("ccl-auto-15", screens.limitWithReset(), { interrupted: false }),
    session("ccl-1-conformvault", screens.limitWithReset(), { account: "backup" }),
  ];
  const doing = (plan: ReturnType<typeof planResume>): string[] => plan.actions.map((a) => (a.do === "press" ? `press ${a.key}` : a.do));

  void test("a 'Stop and wait' option no single key picks: nothing pressed, the why says so", () => {
    const { ledger } = setup({ main: 2 * HOUR, backup: 5 * HOUR });
    const plan = planResume({ ledger, sessions: [session("ccl-auto-11", menuVerdict(tenOptions(10)))] });
    assert.equal(plan.actions[0]?.do, "nothing");
    assert.match(plan.actions[0]?.why ?? "", /numbers 'Stop and wait' 10, which no single key picks/);
  });

  void test("while every account is out: answer menus, touch nothing else", () => {
    const { ledger } = setup({ main: 2 * HOUR, backup: 5 * HOUR });
    const plan = planResume({ ledger, sessions: sessions() });
    assert.deepEqual([plan.mode, plan.account], ["wait", null]);
    assert.deepEqual(doing(plan), ["press 1", "nothing", "nothing", "nothing", "nothing", "nothing"]);
  });

  void test("the active account is back: continue the interrupted turns on it, only there", async () => {
    const { ledger, clock } = setup({ main: 2 * HOUR, backup: 5 * HOUR });
    await clock.advance(2 * HOUR);
    const plan = planResume({ ledger, sessions: sessions() });
    assert.deepEqual([plan.mode, plan.account], ["continue", "main"]);
    assert.deepEqual(doing(plan), ["press 1", "continue", "nothing", "nothing", "nothing", "nothing"]);
  });

  void test("every interrupted session gets its continuation, even once its screen moved on from the banner", async () => {
    const { ledger, clock } = setup({ main: HOUR, backup: 5 * HOUR });
    await clock.advance(HOUR);
    const plan = planResume({
      ledger,
      sessions: [
        session("ccl-auto-11", screens.idle()),
        session("ccl-auto-12", screens.error500()),
        session("ccl-auto-13", screens.idle(), { interrupted: false }),
        session("ccl-auto-14", screens.busy()),
      ],
    });
    assert.deepEqual(doing(plan), ["continue", "continue", "nothing", "nothing"]);
  });

  void test("text typed in the input box is never overwritten by a continue", async () => {
    const { ledger, clock } = setup({ main: HOUR, backup: 5 * HOUR });
    await clock.advance(HOUR);
    const typed: ScreenVerdict = { ...screens.limitWithReset(), inputText: "wait, do this instead" };
    assert.deepEqual(doing(planResume({ ledger, sessions: [session("ccl-auto-12", typed)] })), ["nothing"]);
  });

  void test("another account is back first: swap to it (the switcher resumes the work)", async () => {
    const { ledger, clock } = setup({ main: 5 * HOUR, backup: HOUR });
    await clock.advance(HOUR);
    const plan = planResume({ ledger, sessions: sessions() });
    assert.deepEqual([plan.mode, plan.account], ["swap", "backup"]);
    assert.deepEqual(doing(plan), ["press 1", "nothing", "nothing", "nothing", "nothing", "nothing"]);
  });

  void test("no reset known (every account broken): it waits, the operator must act", () => {
    const clock = new FakeClock(NOW);
    const ledger = new AccountLedger({ accounts: [{ name: "main" }], active: "main", clock });
    ledger.markBroken("main", "credentials-missing", "no credentials");
    assert.deepEqual([planResume({ ledger, sessions: [] }).mode, planResume({ ledger, sessions: [] }).account], ["wait", null]);
  });
});
