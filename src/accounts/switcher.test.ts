import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readlink, rename, rm, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { LinkError } from "./shared-links.js";
import { AccountSwitcher, SwapError, recoverSwap, type SwapJournal } from "./switcher.js";
import { swapJournalSchema } from "./swap-journal.js";
import { makeWorld, UUID_C, type World, type WorldOptions } from "./test-swap-world.js";

async function withWorld(fn: (w: World) => Promise<void>, options?: WorldOptions): Promise<void> {
  const w = await makeWorld(options);
  try {
    await fn(w);
  } finally {
    await w.cleanup();
  }
}

/** 0.3.8's test: a divergent link planted in the target home makes ensuring its links fail. */
async function plantDivergentLink(w: World): Promise<string> {
  const elsewhere = path.join(w.root, "someone-elses-transcripts");
  await mkdir(elsewhere);
  await symlink(elsewhere, path.join(w.homes.backup, "projects"));
  return elsewhere;
}

/** 0.3.8's other test: the previous home replaced by a regular file, so the link cannot go back to it. */
async function replacePreviousHomeByFile(w: World): Promise<() => Promise<void>> {
  await rename(w.homes.main, `${w.homes.main}.moved`);
  await writeFile(w.homes.main, "not a folder");
  return async () => {
    await rm(w.homes.main);
    await rename(`${w.homes.main}.moved`, w.homes.main);
  };
}

const isSwapError = (code: string, rolledBack?: boolean) => (err: unknown) =>
  err instanceof SwapError && err.code === code && (rolledBack === undefined || err.rolledBack === rolledBack);

void describe("AccountSwitcher: the six steps", () => {
  void test("a swap runs every step in order, persisting the journal before each side effect", () =>
    withWorld(async (w) => {
      const result = await new AccountSwitcher(w.deps).swap({ reason: "usage limit on main", trigger: "auto" });
      const head = [
        "persist:recording", "capture",
        "persist:stopping-pool", "kill",
        "persist:flipping", "flip:backup",
        "persist:ensuring-links", "ensure:backup",
        "persist:recording-swap", "active:backup", "record:main>backup",
        "persist:recreating", "recreate:backup",
      ];
      assert.deepEqual(w.calls.slice(0, head.length), head);
      // Then every session comes back side by side, each one named in a persisted journal before it is touched.
      const rest = w.calls.slice(head.length);
      const comeback: [call: string, key: string][] = [
        // A valid id is resumed; a corrupt one leaves the session at the shell.
        [`relaunch:ccl-1-conformvault:backup:${UUID_C}`, "dedicated:ccl-1-conformvault"],
        ["relaunch:ccl-2-scanyze:backup:shell", "dedicated:ccl-2-scanyze"],
        // The task still being handed over is left to the work loop.
        ["resume:ccl-auto-11:t-early:backup", "task:proj/t-early"],
        ["resume:ccl-auto-12:t-late:backup", "task:proj/t-late"],
      ];
      assert.deepEqual(rest.filter((c) => !c.startsWith("persist:")).sort(), comeback.map(([c]) => c).sort());
      assert.deepEqual([rest.filter((c) => c === "persist:recreating").length, rest.at(-1)], [4, "persist:done"]);
      for (const [call, key] of comeback) {
        const persistedBefore = w.calls.slice(0, w.calls.indexOf(call)).filter((c) => c.startsWith("persist:")).length;
        assert.ok(w.journals.slice(0, persistedBefore).some((j) => j.started.includes(key)), `${key} persisted before ${call}`);
      }
      assert.equal(result.outcome, "done");
      assert.deepEqual([result.relaunched, result.resumed], [["ccl-1-conformvault"], ["proj/t-early", "proj/t-late"]]);
      assert.deepEqual(result.skipped.map((s) => s.task), ["proj/t-handover"]);
      assert.deepEqual([await w.linkAccount(), w.ledger.active(), w.lastSwap?.to], ["backup", "backup", "backup"]);
      assert.equal(await readlink(path.join(w.homes.backup, "projects")), path.join(w.shared, ".claude-projects-shared"));
      assert.deepEqual(w.notices.map((n) => n.kind), ["swap-done"]);
      for (const j of w.journals) swapJournalSchema.parse(JSON.parse(JSON.stringify(j)));
    }));

  void test("ensuring the target's links fails → flipped back, active unchanged, swap failed", () =>
    withWorld(async (w) => {
      const elsewhere = await plantDivergentLink(w);
      const switcher = new AccountSwitcher(w.deps);
      await assert.rejects(switcher.swap({ to: "backup", reason: "manual", trigger: "manual" }), (err: unknown) => {
        assert.ok(isSwapError("SWAP_LINKS_BROKEN", true)(err));
        assert.match((err as SwapError).problems.join("\n"), /divergent/);
        return true;
      });
      assert.deepEqual([await w.linkAccount(), w.ledger.active(), w.lastSwap], ["main", "main", null]);
      // Never auto-corrected: it may hold the only copy of someone's transcripts.
      assert.equal(await readlink(path.join(w.homes.backup, "projects")), elsewhere);
      // The pool comes back on the previous home and its tasks continue there; dedicated sessions were never touched.
      assert.ok(w.calls.includes("recreate:main") && w.calls.includes("resume:ccl-auto-11:t-early:main"));
      assert.ok(!w.calls.some((c) => c.startsWith("relaunch:")));
      assert.deepEqual([switcher.state, w.journals.at(-1)?.step, w.notices.map((n) => n.kind)], ["idle", "failed", ["swap-failed"]]);
    }));

  const partialCauses: { name: string; options?: WorldOptions; setup?: (w: World) => Promise<unknown> }[] = [
    { name: "the previous home replaced by a file", setup: replacePreviousHomeByFile },
    {
      name: "the flip back failing (injected on the second flip)",
      options: { flip: (real, link, home, call) => (call === 2 ? Promise.reject(new LinkError("CLAUDE_LINK_FLIP_FAILED", "EIO")) : real(link, home)) },
    },
  ];
  for (const c of partialCauses) {
    void test(`rollback fails too (${c.name}) → partial-swap, sticky, every further swap refused`, () =>
      withWorld(async (w) => {
        await plantDivergentLink(w);
        await c.setup?.(w);
        const switcher = new AccountSwitcher(w.deps);
        await assert.rejects(switcher.swap({ to: "backup", reason: "x", trigger: "auto" }), isSwapError("SWAP_PARTIAL", false));
        assert.equal(switcher.state, "partial-swap");
        assert.match(switcher.partialSwap?.detail ?? "", /putting .* back .* failed too/);
        assert.deepEqual([w.ledger.active(), await w.linkAccount(), w.journals.at(-1)?.step], ["main", "backup", "partial-swap"]);
        assert.deepEqual(w.notices.map((n) => n.kind), ["partial-swap"]);
        await assert.rejects(switcher.swap({ to: "backup", reason: "again", trigger: "manual" }), isSwapError("SWAP_PARTIAL_STATE"));
      }, c.options));
  }

  void test("the flip itself failing is rolled back: SWAP_FLIP_FAILED, nothing changed", () =>
    withWorld(async (w) => {
      await assert.rejects(new AccountSwitcher(w.deps).swap({ reason: "x", trigger: "auto" }), isSwapError("SWAP_FLIP_FAILED", true));
      assert.deepEqual([await w.linkAccount(), w.ledger.active()], ["main", "main"]);
    }, { flip: (real, link, home, call) => (call === 1 ? Promise.reject(new LinkError("CLAUDE_LINK_FLIP_FAILED", "EIO")) : real(link, home)) }));

  void test("a journal that cannot be saved stops the swap before anything changes", () =>
    withWorld(async (w) => {
      await assert.rejects(new AccountSwitcher(w.deps).swap({ reason: "x", trigger: "auto" }), isSwapError("SWAP_JOURNAL_FAILED", true));
      assert.deepEqual(w.calls, []);
    }, { persist: () => Promise.reject(new Error("ENOSPC")) }));

  const refusals: { name: string; to?: string; setup?: (w: World) => void; code: string }[] = [
    { name: "to the current account", to: "main", code: "SWAP_SAME_ACCOUNT" },
    { name: "to an unknown account", to: "nobody", code: "SWAP_UNKNOWN_ACCOUNT" },
    { name: "to a broken account", to: "backup", setup: (w) => w.ledger.markBroken("backup", "credentials-missing", "no file"), code: "SWAP_TARGET_BROKEN" },
    { name: "with no account left to go to", setup: (w) => w.ledger.markExhausted("backup", null, "hit"), code: "SWAP_NO_TARGET" },
  ];
  for (const r of refusals) {
    void test(`refuses a swap ${r.name}`, () =>
      withWorld(async (w) => {
        r.setup?.(w);
        await assert.rejects(new AccountSwitcher(w.deps).swap({ ...(r.to ? { to: r.to } : {}), reason: "x", trigger: "manual" }), isSwapError(r.code, true));
        assert.deepEqual(w.calls, []);
      }));
  }

  void test("swaps are serialised: a second one while the first runs is refused", () =>
    withWorld(async (w) => {
      const switcher = new AccountSwitcher(w.deps);
      const first = switcher.swap({ reason: "auto", trigger: "auto" });
      assert.equal(switcher.state, "swapping");
      await assert.rejects(switcher.swap({ reason: "manual", trigger: "manual" }), isSwapError("SWAP_IN_PROGRESS"));
      assert.equal((await first).outcome, "done");
      assert.equal(switcher.state, "idle");
    }));

  // Without onPoolBack the test would wait for it forever: its own timeout turns that into a failure.
  void test("onPoolBack comes once the pool's tasks are resumed, while a dedicated session is still coming back", { timeout: 20_000 }, () =>
    withWorld(async (w) => {
      let release!: () => void;
      const slowRelaunch = new Promise<void>((r) => (release = r));
      const sessions = w.deps.sessions;
      const relaunch = sessions.relaunchDedicated.bind(sessions);
      w.deps.sessions = { ...sessions, relaunchDedicated: async (session, home, uuid) => {
        await relaunch(session, home, uuid);
        if (session === "ccl-1-conformvault") await slowRelaunch;
      } };
      const switcher = new AccountSwitcher(w.deps);
      let poolBack!: () => void;
      const back = new Promise<void>((r) => (poolBack = r));
      const swap = switcher.swap({ reason: "auto", trigger: "auto", onPoolBack: () => {
        w.calls.push("pool-back");
        poolBack();
      } });
      await back;
      assert.ok(w.calls.includes("resume:ccl-auto-11:t-early:backup") && w.calls.includes("resume:ccl-auto-12:t-late:backup"), "after the resumes");
      assert.equal(switcher.state, "swapping", "the swap itself is not over: dispatch still waits");
      assert.ok(!w.calls.includes("persist:done"));
      release();
      assert.equal((await swap).outcome, "done");
      assert.deepEqual(w.calls.filter((c) => c === "pool-back"), ["pool-back"]);
    }));
});

interface Snapshot {
  journal: SwapJournal;
  link: string;
  active: string;
}

/** Runs a swap, snapshotting the world at every persist: the state a crash right there would leave. */
async function snapshotsOf(w: World, swap: () => Promise<unknown>): Promise<Snapshot[]> {
  const shots: Snapshot[] = [];
  const persist = w.deps.persist;
  w.deps.persist = async (j) => {
    await persist(j);
    shots.push({ journal: structuredClone(j), link: await w.linkAccount(), active: w.ledger.active()! });
  };
  await swap().catch(() => undefined);
  w.deps.persist = persist;
  return shots;
}

async function restore(w: World, s: { link: string; active: string }): Promise<void> {
  await rename(w.link, `${w.link}.old`).then(() => rm(`${w.link}.old`));
  await symlink(s.link === "main" ? w.homes.main : w.homes.backup, w.link);
  w.ledger.setActive(s.active);
  w.calls.length = 0;
  w.journals.length = 0;
}

void describe("recoverSwap: a crash at any step ends consistent", () => {
  const scenarios: { name: string; broken: boolean; ends: Record<string, string> }[] = [
    { name: "a swap that succeeds", broken: false, ends: { recording: "failed", default: "done" } },
    { name: "a swap whose target links are broken", broken: true, ends: { recording: "failed", default: "failed" } },
  ];
  for (const sc of scenarios) {
    void test(`${sc.name}: every persisted step, crash before and after its side effect`, () =>
      withWorld(async (w) => {
        if (sc.broken) await plantDivergentLink(w);
        const shots = await snapshotsOf(w, () => new AccountSwitcher(w.deps).swap({ reason: "limit", trigger: "auto" }));
        assert.ok(shots.length >= 8);
        for (let i = 0; i < shots.length; i++) {
          for (const variant of ["before", "after"] as const) {
            const world = variant === "before" ? shots[i]! : shots[i + 1];
            if (world === undefined) continue;
            const journal = shots[i]!.journal;
            await restore(w, world);
            const label = `${journal.step}#${i} (${variant} its side effect)`;
            const result = await recoverSwap(journal, w.deps);
            const expected = ["done", "failed"].includes(journal.step) ? journal.step : (sc.ends[journal.step] ?? sc.ends.default);
            assert.equal(result.outcome, expected, label);
            const link = await w.linkAccount();
            const active = w.ledger.active();
            assert.equal(link, active, `${label}: the link points at the active account`);
            assert.equal(active, result.outcome === "done" ? "backup" : "main", label);
            if (w.journals.length > 0) assert.equal(w.journals.at(-1)?.step, result.outcome, `${label}: persisted journal agrees`);
            // At most once: a relaunch or resume the journal shows as started is not repeated.
            for (const key of journal.started) {
              const session = key.startsWith("dedicated:") ? key.slice("dedicated:".length) : undefined;
              const task = key.startsWith("task:") ? key.split("/").at(-1) : undefined;
              assert.ok(!w.calls.some((c) => (session && c.startsWith(`relaunch:${session}:`)) || (task && c.includes(`:${task}:`))), `${label}: ${key} repeated`);
            }
          }
        }
      }));
  }

  void test("a partial swap at restart: rolled back once the operator fixed it, still partial (and refusing) when not", () =>
    withWorld(async (w) => {
      await plantDivergentLink(w);
      const fix = await replacePreviousHomeByFile(w);
      await assert.rejects(new AccountSwitcher(w.deps).swap({ reason: "x", trigger: "auto" }), isSwapError("SWAP_PARTIAL"));
      const journal = w.journals.at(-1)!;

      const stillBroken = new AccountSwitcher(w.deps);
      assert.equal((await stillBroken.recover(journal)).outcome, "partial-swap");
      await assert.rejects(stillBroken.swap({ reason: "x", trigger: "manual" }), isSwapError("SWAP_PARTIAL_STATE"));

      await fix();
      const restarted = new AccountSwitcher(w.deps);
      const result = await restarted.recover(journal);
      assert.deepEqual([result.outcome, await w.linkAccount(), w.ledger.active(), restarted.state], ["failed", "main", "main", "idle"]);
    }));
});
