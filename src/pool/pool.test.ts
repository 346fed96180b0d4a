import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock } from "../lib/test-clock.js";
import { silentLogger } from "../lib/logger.js";
import { FakeTmuxClient } from "../tmux/fake.js";
import type { TmuxClient } from "../tmux/client.js";
import { privateTmux } from "../../test/support/tmux-server.js";
import { PoolManager } from "./pool.js";
import { SessionRegistry } from "./registry.js";

const FOREIGN = ["ccl-0", "ccl-9", "ccl-auto-1", "ccl-auto-10", "ccl-auto-21", "ccl-auto-011", "ccl-auto11", "operator"];

function makePool(tmux: TmuxClient, over: { min?: number; max?: number; dedicated?: { name: string; cwd: string }[] } = {}) {
  const clock = new FakeClock();
  const registry = new SessionRegistry(() => clock.now());
  const pool = new PoolManager({
    tmux, clock, log: silentLogger(), registry,
    pool: { prefix: "ccl-auto-", start_index: 11, min: over.min ?? 2, max: over.max ?? 10, cwd: "/tmp" },
    dedicated: over.dedicated ?? [{ name: "ccl-1-vault", cwd: "/tmp" }],
    size: { width: 120, height: 40 },
  });
  return { pool, registry, clock };
}

describe("PoolManager with the fake tmux", () => {
  test("creates exactly min pool sessions and the absent dedicated one, touching no foreign session", async () => {
    const tmux = new FakeTmuxClient();
    for (const f of FOREIGN) tmux.addForeign(f);
    const { pool, registry } = makePool(tmux);
    const report = await pool.reconcile();
    assert.deepEqual(report.created.sort(), ["ccl-1-vault", "ccl-auto-11", "ccl-auto-12"]);
    const touched = tmux.calls.filter((c) => c.name !== undefined).map((c) => c.name!);
    assert.deepEqual(touched.filter((n) => FOREIGN.includes(n)), []);
    assert.deepEqual(tmux.touched("kill-session"), []);
    assert.deepEqual(registry.list("pool").filter((r) => r.state === "idle").map((r) => r.name), ["ccl-auto-11", "ccl-auto-12"]);
  });

  test("a killed pool session is recreated within one reconcile", async () => {
    const tmux = new FakeTmuxClient();
    const { pool } = makePool(tmux);
    await pool.reconcile();
    await tmux.killSession("ccl-auto-12");
    const report = await pool.reconcile();
    assert.deepEqual(report.created, ["ccl-auto-12"]);
    assert.equal(await tmux.hasSession("ccl-auto-12"), true);
  });

  test("a present dedicated session is never recreated, killed or typed into", async () => {
    const tmux = new FakeTmuxClient();
    tmux.addForeign("ccl-1-vault", ["operator@host:~$ claude --resume"]);
    const { pool, registry } = makePool(tmux);
    await pool.reconcile();
    await pool.reconcile();
    const onDedicated = tmux.calls.filter((c) => c.name === "ccl-1-vault").map((c) => c.op);
    assert.deepEqual(onDedicated, []);
    assert.equal(registry.get("ccl-1-vault")?.kind, "dedicated");
    assert.equal(registry.get("ccl-1-vault")?.state, "idle");
  });

  test("pool sessions left by an earlier run are adopted and kept, even beyond min", async () => {
    const tmux = new FakeTmuxClient();
    tmux.addForeign("ccl-auto-15");
    tmux.addForeign("ccl-auto-20");
    const { pool } = makePool(tmux);
    const first = await pool.reconcile();
    assert.deepEqual(first.adopted, ["ccl-auto-15", "ccl-auto-20"]);
    assert.deepEqual(first.created, ["ccl-1-vault"]);
    await tmux.killSession("ccl-auto-20");
    const second = await pool.reconcile();
    assert.deepEqual(second.created, ["ccl-auto-20"]);
    assert.deepEqual(pool.heldSessions(), ["ccl-auto-15", "ccl-auto-20"]);
  });

  test("min 0 holds nothing; grow() takes the lowest free index and stops at max", async () => {
    const tmux = new FakeTmuxClient();
    const { pool } = makePool(tmux, { min: 0, max: 2, dedicated: [] });
    assert.deepEqual((await pool.reconcile()).created, []);
    assert.equal(pool.grow(), "ccl-auto-11");
    assert.equal(pool.grow(), "ccl-auto-12");
    assert.equal(pool.grow(), undefined);
    assert.deepEqual((await pool.reconcile()).created, ["ccl-auto-11", "ccl-auto-12"]);
  });

  test("a failed creation is reported and retried at the next reconcile", async () => {
    const tmux = new FakeTmuxClient();
    tmux.failNext.set("new-session", 1);
    const { pool, registry } = makePool(tmux, { min: 1, dedicated: [] });
    const first = await pool.reconcile();
    assert.equal(first.failed.length, 1);
    assert.equal(registry.get("ccl-auto-11")?.state, "error");
    const second = await pool.reconcile();
    assert.deepEqual(second.created, ["ccl-auto-11"]);
    assert.equal(registry.get("ccl-auto-11")?.state, "idle");
  });
});

// Real tmux resolves a target by prefix unless it is exact (`=name`): only a real server shows that foreign names
// such as ccl-auto-1 beside ccl-auto-11 are never matched, killed or replaced.
describe("PoolManager with a real tmux server", () => {
  test("holds exactly the configured pool among foreign sessions and recreates a killed one", async () => {
    const { client, close } = privateTmux("pool");
    try {
      for (const f of FOREIGN) await client.newSession({ name: f, cwd: "/tmp", command: ["cat"] });
      const before = new Map((await client.listSessions()).map((s) => [s.name, s.created]));
      const { pool } = makePool(client);
      await pool.reconcile();
      const names = (await client.listSessions()).map((s) => s.name).sort();
      assert.deepEqual(names, [...FOREIGN, "ccl-1-vault", "ccl-auto-11", "ccl-auto-12"].sort());
      await client.killSession("ccl-auto-11");
      assert.deepEqual((await pool.reconcile()).created, ["ccl-auto-11"]);
      const after = new Map((await client.listSessions()).map((s) => [s.name, s.created]));
      for (const f of FOREIGN) assert.equal(after.get(f), before.get(f), `${f} was replaced`);
    } finally {
      await close();
    }
  });
});
