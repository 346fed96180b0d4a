import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { LinkProblem } from "../accounts/shared-links.js";
import { SwapError } from "../accounts/switcher.js";
import { menuVerdict, NOW, screens, stopFailure } from "../quota/test-verdicts.js";
import { AGENT_1, AGENT_2, homeOf, makeWorld, working } from "./test-failover.js";

const HOUR = 3_600_000;
const brokenLinksOf = (home: string): LinkProblem[] =>
  home === homeOf("b") ? [{ home, link: `${home}/projects`, kind: "missing", expected: "/shared/projects", fix: "create it" }] : [];
const DAY = 24 * HOUR;

describe("Failover: acting on a swap decision", () => {
  test("a limit on the active account: the loop is paused, the swap runs, the task resumes on the target, the swap is recorded, the loop resumes", async () => {
    const task = working("cf-pool-1", "t1", AGENT_1);
    const w = makeWorld({ now: NOW, tasks: [task] });
    w.watch.observeScreen(task, screens.limitWithReset());
    assert.equal(w.watch.holdsLimit(task), true);
    await w.tick();
    assert.deepEqual(w.calls, ["pause:swap", "kill-pool", "flip:b", "recreate-pool", "resume-on:t1@b", "resume", "resume"]);
    const swap = w.events.find((e) => e.type === "swap");
    assert.equal(swap?.outcome, "done");
    assert.equal(swap?.from, "a");
    assert.equal(swap?.to, "b");
    assert.deepEqual(swap?.resumed, ["p/t1"]);
    assert.equal(w.state.active, "b");
    assert.equal(w.state.swaps[0]?.to, "b");
    assert.equal(w.watch.ledger.active(), "b");
    assert.equal(w.failover.activeAccount(), "b");
    assert.deepEqual(w.failover.swapStatus(), { state: "idle", partial: false });
    assert.equal(w.watch.holdsLimit({ ...task, account: "b" }), false, "resumed with --resume: its replayed limit is history");
    assert.deepEqual(w.notes.map((n) => n.kind), ["swap-done"]);
  });

  test("a manual swap to an exhausted account marks it available: the operator's word", async () => {
    const w = makeWorld({ now: NOW });
    w.watch.ledger.markExhausted("b", NOW + HOUR, "test");
    const r = await w.failover.manualSwap("b");
    assert.equal(r.outcome, "done");
    assert.equal(w.watch.ledger.isAvailable("b"), true);
    assert.equal(w.watch.ledger.active(), "b");
    assert.deepEqual(w.calls, ["pause:swap", "kill-pool", "flip:b", "recreate-pool", "resume", "resume"]);
  });

  test("SWAP_LINKS_BROKEN: the swap rolls back, the target is marked broken, the swap is recorded as failed, the loop resumes", async () => {
    const task = working("cf-pool-1", "t1", AGENT_1);
    const w = makeWorld({
      now: NOW, tasks: [task],
      linkProblems: brokenLinksOf,
    });
    w.watch.observeScreen(task, screens.limitWithReset());
    await w.tick();
    assert.deepEqual(w.calls.slice(0, 4), ["pause:swap", "kill-pool", "flip:b", "flip:a"]);
    assert.equal(w.calls.at(-1), "resume");
    assert.equal(w.watch.ledger.isBroken("b"), true);
    assert.equal(w.watch.ledger.active(), "a");
    assert.equal(w.state.active, "a");
    const swap = w.events.find((e) => e.type === "swap");
    assert.deepEqual([swap?.outcome, swap?.from, swap?.to], ["failed", "a", "b"], "a swap that ran is recorded whatever its outcome");
    assert.deepEqual(swap?.resumed, ["p/t1"], "rolled back: the task is resumed where it was");
    // The manual path throws it to the caller.
    const m = makeWorld({ now: NOW, linkProblems: brokenLinksOf });
    await assert.rejects(m.failover.manualSwap("b"), (err: unknown) => err instanceof SwapError && err.code === "SWAP_LINKS_BROKEN");
    assert.equal(m.watch.ledger.isBroken("b"), true);
    assert.equal(m.calls.at(-1), "resume");
  });

  test("a manual swap that named no target: the target it went to is the one marked broken", async () => {
    const w = makeWorld({ now: NOW, linkProblems: brokenLinksOf });
    await assert.rejects(w.failover.manualSwap(undefined), (err: unknown) => err instanceof SwapError && err.code === "SWAP_LINKS_BROKEN");
    assert.equal(w.watch.ledger.isBroken("b"), true);
    assert.equal(w.events.find((e) => e.type === "swap")?.to, "b");
  });

  test("a partial swap (the link cannot be put back either) is recorded as a swap, outcome partial-swap; a refused one is not", async () => {
    const w = makeWorld({ now: NOW, linkProblems: brokenLinksOf, flipFails: (home) => home === homeOf("a") });
    await assert.rejects(w.failover.manualSwap("b"), (err: unknown) => err instanceof SwapError && err.code === "SWAP_PARTIAL");
    assert.deepEqual(w.events.filter((e) => e.type === "swap").map((e) => [e.outcome, e.from, e.to]), [["partial-swap", "a", "b"]]);
    await assert.rejects(w.failover.manualSwap("b"), (err: unknown) => err instanceof SwapError && err.code === "SWAP_PARTIAL_STATE");
    assert.equal(w.events.filter((e) => e.type === "swap").length, 1);
  });
});

describe("LimitWatch: hook events from its construction on", () => {
  test("a usage-limit StopFailure that arrives before the failover starts (the spool drained at start-up) is a sighting, acted on at the first poll", async () => {
    const task = working("cf-pool-1", "t1", AGENT_1);
    const w = makeWorld({ now: NOW, tasks: [task] });
    w.hooks.emit(stopFailure("You've hit your session limit · resets 12:57am (UTC)", "rate_limit", AGENT_1));
    assert.equal(w.watch.holdsLimit(task), true);
    await w.tick();
    assert.equal(w.events.find((e) => e.type === "swap")?.to, "b");
  });
});

describe("Failover: one swap at a time, and only it pauses and resumes the work loop", () => {
  /** A world whose swap stops after killing the pool until `release` is called. */
  function heldSwap(o: Partial<Parameters<typeof makeWorld>[0]> = {}) {
    let release!: () => void;
    let killed!: () => void;
    const atKill = new Promise<void>((r) => (killed = r));
    const gate = new Promise<void>((r) => (release = r));
    const w = makeWorld({ now: NOW, ...o, afterKill: () => (killed(), gate) });
    return { w, release, atKill };
  }

  test("a manual swap asked while a swap runs is refused before it touches the work loop: the loop stays paused until the first swap resumes it", async () => {
    const { w, release, atKill } = heldSwap();
    const first = w.failover.manualSwap("b");
    await atKill;
    await assert.rejects(w.failover.manualSwap("b"), (err: unknown) => err instanceof SwapError && err.code === "SWAP_IN_PROGRESS");
    assert.deepEqual(w.calls, ["pause:swap", "kill-pool"], "no second pause, no resume under the running swap");
    release();
    assert.equal((await first).outcome, "done");
    assert.deepEqual(w.calls, ["pause:swap", "kill-pool", "flip:b", "recreate-pool", "resume", "resume"]);
  });

  test("the resume step leaves the sessions of a running swap alone and never un-pauses the loop", async () => {
    const task = working("cf-pool-1", "t1", AGENT_1);
    const { w, release, atKill } = heldSwap({ tasks: [task] });
    w.watch.ledger.markExhausted("b", NOW + HOUR, "test");
    w.watch.observeScreen(task, screens.limitWithReset());
    w.screens.set("cf-pool-1", screens.idle());
    await w.tick();
    assert.deepEqual(w.notes.map((n) => n.kind), ["all-exhausted"]);
    // The operator swaps to b; meanwhile both accounts reset and the quota poll runs.
    const first = w.failover.manualSwap("b");
    await atKill;
    await w.clock.advance(DAY);
    await w.tick();
    assert.deepEqual(w.calls, ["pause:swap", "kill-pool"], "no continue into a session the swap is killing, no resume");
    release();
    await first;
    assert.equal(w.calls.filter((c) => c === "resume").length, 2, "the swap's own resumes only");
  });
});

describe("Failover: a decision made stale by the swap before it", () => {
  test("reactivate_cooldown 0s: the poll's own decision for the account just swapped away from is dropped, the loop is not paused again", async () => {
    const task = working("cf-pool-1", "t1", AGENT_1);
    const w = makeWorld({ now: NOW, accounts: ["a", "b", "c"], tasks: [task], settings: { reactivateCooldownMs: 0 } });
    w.watch.observeScreen(task, screens.limitWithReset());
    await w.tick();
    assert.deepEqual(w.calls, ["pause:swap", "kill-pool", "flip:b", "recreate-pool", "resume-on:t1@b", "resume", "resume"]);
    assert.deepEqual(w.eventTypes(), ["swap"]);
    assert.equal(w.watch.ledger.active(), "b");
  });
});

describe("Failover: every account out, then the resume", () => {
  /** One account, its task at the limit: the exhausted decision. */
  function allOut() {
    const task = working("cf-pool-1", "t1", AGENT_1);
    const w = makeWorld({ now: NOW, accounts: ["a"], tasks: [task] });
    w.watch.observeScreen(task, screens.limitWithReset());
    return { w, task };
  }

  test("exhausted: notifies all-exhausted once, pauses dispatch, and waits while no account is back", async () => {
    const { w } = allOut();
    w.screens.set("cf-pool-1", screens.limitWithReset());
    await w.tick();
    assert.deepEqual(w.notes.map((n) => n.kind), ["all-exhausted"]);
    assert.equal(w.failover.activeAccount(), undefined, "dispatch paused");
    await w.clock.advance(HOUR);
    await w.tick();
    assert.deepEqual(w.calls, [], "wait: no key, no continue, no swap");
    assert.deepEqual(w.eventTypes(), []);
    assert.deepEqual(w.notes.map((n) => n.kind), ["all-exhausted"]);
  });

  test("at the reset: the limit menu gets its key first; the interrupted task is continued at the next poll, then 'resumed' and dispatch goes on", async () => {
    const { w } = allOut();
    w.screens.set("cf-pool-1", screens.limitMenu());
    await w.tick();
    await w.clock.advance(DAY);
    await w.tick();
    assert.deepEqual(w.calls, ["key:cf-pool-1:1"], "never Enter: the option's number (U5)");
    assert.deepEqual(w.eventTypes(), [], "a press pending: not resumed yet");

    w.screens.set("cf-pool-1", screens.idle());
    await w.tick();
    assert.deepEqual(w.calls, ["key:cf-pool-1:1", "continue:t1", "poke"]);
    assert.deepEqual(w.eventTypes(), ["resumed"]);
    assert.equal(w.events.find((e) => e.type === "resumed")?.account, "a");
    assert.deepEqual(w.notes.map((n) => n.kind), ["all-exhausted", "resumed"]);
    assert.deepEqual(w.watch.monitor.interrupted(), [], "the continue is noted as a submit: a limit now is a new hit");
    assert.equal(w.failover.activeAccount(), "a");

    await w.tick();
    assert.deepEqual(w.calls, ["key:cf-pool-1:1", "continue:t1", "poke"], "resumed once");
  });

  test("a limit menu whose 'Stop and wait' no single key picks (option 10): nothing is pressed; the task is continued once the menu is answered", async () => {
    const { w } = allOut();
    const options = Array.from({ length: 10 }, (_, i) => ({ number: i + 1, label: i === 9 ? "Stop and wait for limit to reset" : `Other choice ${i + 1}` }));
    w.screens.set("cf-pool-1", menuVerdict({ options, waitOption: 10 }));
    await w.tick();
    await w.clock.advance(DAY);
    await w.tick();
    assert.deepEqual(w.calls, ["poke"], "no key: neither '10' (not a key) nor Enter");
    assert.deepEqual(w.eventTypes(), ["resumed"]);

    w.screens.set("cf-pool-1", screens.idle());
    await w.tick();
    assert.deepEqual(w.calls, ["poke", "continue:t1"]);
  });

  test("an interrupted task whose screen moved on from the banner is continued too", async () => {
    const { w } = allOut();
    w.screens.set("cf-pool-1", screens.idle());
    await w.tick();
    await w.clock.advance(DAY);
    await w.tick();
    assert.deepEqual(w.calls, ["continue:t1", "poke"]);
    assert.deepEqual(w.eventTypes(), ["resumed"]);
  });

  /** One account, two tasks at the limit, the reset passed: the resume is due at the next poll. */
  async function twoOutAtTheReset() {
    const t1 = working("cf-pool-1", "t1", AGENT_1);
    const t2 = working("cf-pool-2", "t2", AGENT_2);
    const w = makeWorld({ now: NOW, accounts: ["a"], tasks: [t1, t2] });
    w.watch.observeScreen(t1, screens.limitWithReset());
    w.watch.observeScreen(t2, screens.limitWithReset());
    w.screens.set("cf-pool-1", screens.limitWithReset());
    w.screens.set("cf-pool-2", screens.limitWithReset());
    await w.tick();
    await w.clock.advance(DAY);
    w.screens.set("cf-pool-1", screens.idle());
    return { w, t1, t2 };
  }

  for (const c of [
    { name: "its screen could not be read", miss: (w: ReturnType<typeof makeWorld>) => void w.screens.delete("cf-pool-2"), calls: ["continue:t1", "poke"] },
    { name: "its 'continue' failed", miss: (w: ReturnType<typeof makeWorld>) => void (w.screens.set("cf-pool-2", screens.idle()), w.failContinue.add("t2")), calls: ["continue:t1", "continue-failed:t2", "poke"] },
    { name: "text waited in its input box", miss: (w: ReturnType<typeof makeWorld>) => void w.screens.set("cf-pool-2", { ...screens.idle(), inputText: "hello" }), calls: ["continue:t1", "poke"] },
  ]) {
    test(`an interrupted task that got no continuation at the reset (${c.name}) gets it at a later poll, and is no longer held`, async () => {
      const { w, t2 } = await twoOutAtTheReset();
      c.miss(w);
      await w.tick();
      assert.deepEqual(w.calls, c.calls);
      assert.deepEqual(w.eventTypes(), ["resumed"]);
      assert.equal(w.watch.holdsLimit(t2), true, "still held: its continuation is owed");

      w.failContinue.clear();
      w.screens.set("cf-pool-2", screens.idle());
      await w.tick();
      assert.deepEqual(w.calls, [...c.calls, "continue:t2"], "t1 is not continued twice");
      assert.equal(w.watch.holdsLimit(t2), false);
      assert.deepEqual(w.eventTypes(), ["resumed"], "resumed once");
      assert.deepEqual(w.notes.map((n) => n.kind), ["all-exhausted", "resumed"]);

      await w.tick();
      assert.deepEqual(w.calls, [...c.calls, "continue:t2"], "nothing owed: the resume is over");
    });
  }

  /** a at its limit with b out for 10 more minutes (every account out), the swap's cooldown running: after one poll. */
  async function bBackLater(): Promise<ReturnType<typeof makeWorld>> {
    const task = working("cf-pool-1", "t1", AGENT_1);
    const w = makeWorld({ now: NOW, tasks: [task], settings: { reactivateCooldownMs: 2 * HOUR }, lastSwapAt: NOW - 60_000 });
    w.watch.ledger.markExhausted("b", NOW + 10 * 60_000, "test");
    w.screens.set("cf-pool-1", screens.limitWithReset());
    w.watch.observeScreen(task, screens.limitWithReset());
    await w.tick();
    return w;
  }

  test("a task resumed on another account whose screen still shows the replayed banner gets no second 'continue' (the monitor calls it history)", async () => {
    const w = await bBackLater();
    await w.clock.advance(11 * 60_000);
    await w.tick();
    assert.deepEqual(w.calls.slice(4), ["resume-on:t1@b", "resume", "resume"]);
    // Its supervision sees the replay (history), and so does the resume step at the next poll.
    w.watch.observeScreen(w.tasks[0]!, screens.limitWithReset());
    await w.tick();
    assert.deepEqual(w.calls.slice(7), ["poke"], "resumed: no extra continue on a replayed banner");
    assert.deepEqual(w.eventTypes(), ["swap", "resumed"]);
  });

  test("another account back first: the resume step swaps to it (the monitor's own swap is held by the cooldown)", async () => {
    const w = await bBackLater();
    assert.deepEqual(w.notes.map((n) => n.kind), ["all-exhausted"]);
    assert.deepEqual(w.calls, []);

    await w.clock.advance(11 * 60_000);
    await w.tick();
    assert.deepEqual(w.calls, ["pause:swap", "kill-pool", "flip:b", "recreate-pool", "resume-on:t1@b", "resume", "resume"]);
    const swap = w.events.find((e) => e.type === "swap");
    assert.equal(swap?.to, "b");
    assert.equal(swap?.reason, "b is available again");
    assert.equal(w.watch.ledger.active(), "b");

    // The monitor's next poll finds the active account available: the wait ends there, dispatch goes on.
    w.screens.set("cf-pool-1", screens.busy());
    await w.tick();
    assert.deepEqual(w.calls.slice(7), ["poke"], "the resumed task is at work: nothing pressed, nothing continued");
    assert.deepEqual(w.eventTypes(), ["swap", "resumed"]);
    assert.equal(w.failover.activeAccount(), "b");
  });
});

describe("Failover: dedicated sessions across a swap", () => {
  test("the agent in a dedicated session is brought back on the target home under its id, in the cwd it ran in; a session with no agent is left as it is", async () => {
    const w = makeWorld({
      now: NOW,
      dedicated: [{ name: "ded-1", cwd: "/srv/configured" }, { name: "ded-2", cwd: "/srv/other" }],
      panes: new Map([
        ["ded-1", { pane: { title: "", currentCommand: "claude", pid: 4242, dead: false }, agent: { sessionId: AGENT_2, cwd: "/srv/ran-here" } }],
        ["ded-2", { pane: { title: "", currentCommand: "bash", pid: 4343, dead: false }, agent: null }],
      ]),
      transcripts: new Set([`${homeOf("b")}|/srv/ran-here|${AGENT_2}`]),
    });
    const r = await w.failover.manualSwap("b");
    assert.deepEqual(r.relaunched, ["ded-1"]);
    assert.deepEqual(w.calls.filter((c) => c.includes("ded-")), ["exit:ded-1", `launch:ded-1:/srv/ran-here:CLAUDE_CONFIG_DIR=${homeOf("b")} claude --resume ${AGENT_2}`]);
  });

  test("a dedicated agent with no conversation yet starts fresh under the same id, in its configured cwd when its own is unknown", async () => {
    const w = makeWorld({
      now: NOW,
      dedicated: [{ name: "ded-1", cwd: "/srv/configured" }],
      panes: new Map([["ded-1", { pane: { title: "", currentCommand: "claude", pid: 4242, dead: false }, agent: { sessionId: AGENT_2, cwd: null } }]]),
    });
    await w.failover.manualSwap("b");
    assert.deepEqual(w.calls.filter((c) => c.includes("ded-")), ["exit:ded-1", `launch:ded-1:/srv/configured:CLAUDE_CONFIG_DIR=${homeOf("b")} claude --session-id ${AGENT_2}`]);
  });
});
