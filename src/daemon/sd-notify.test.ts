import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock } from "../lib/test-clock.js";
import { silentLogger } from "../lib/logger.js";
import { SdNotifier, watchdogIntervalMs } from "./sd-notify.js";

function notifier(env: NodeJS.ProcessEnv, health: { ok: boolean } = { ok: true }) {
  const sent: string[][] = [];
  const clock = new FakeClock();
  const n = new SdNotifier({
    env, pid: 4242, clock, log: silentLogger(),
    send: async (a) => void sent.push([...a]),
    alive: () => (health.ok ? { ok: true } : { ok: false, reason: "work loop is not running" }),
  });
  return { n, sent, clock, health };
}

const watchdogs = (sent: string[][]) => sent.filter((a) => a[0] === "WATCHDOG=1").length;

describe("sd_notify", () => {
  test("without NOTIFY_SOCKET nothing is sent", async () => {
    const { n, sent } = notifier({ WATCHDOG_USEC: "10000000" });
    await n.ready("running");
    await n.stopping();
    assert.deepEqual(sent, []);
  });

  test("READY=1 at ready, WATCHDOG=1 every half WatchdogSec only while /health is ok, STOPPING=1 at stop", async () => {
    const { n, sent, clock, health } = notifier({ NOTIFY_SOCKET: "/run/x", WATCHDOG_USEC: "10000000" });
    await n.ready("running");
    assert.equal(sent[0]?.[0], "READY=1");
    await clock.advance(0);
    assert.equal(watchdogs(sent), 1);
    await clock.advance(5_000);
    assert.equal(watchdogs(sent), 2);
    health.ok = false;
    await clock.advance(5_000);
    await clock.advance(5_000);
    assert.equal(watchdogs(sent), 2, "not fed while unhealthy");
    health.ok = true;
    await clock.advance(5_000);
    assert.equal(watchdogs(sent), 3);
    await n.stopping();
    assert.deepEqual(sent.at(-1), ["STOPPING=1"]);
    await clock.advance(60_000);
    assert.equal(watchdogs(sent), 3, "no ping after stopping");
  });

  test("no watchdog without WATCHDOG_USEC, or when WATCHDOG_PID names another process", async () => {
    for (const env of [{ NOTIFY_SOCKET: "/run/x" }, { NOTIFY_SOCKET: "/run/x", WATCHDOG_USEC: "10000000", WATCHDOG_PID: "1" }]) {
      const { n, sent, clock } = notifier(env);
      await n.ready("running");
      await clock.advance(60_000);
      assert.equal(watchdogs(sent), 0);
    }
  });

  test("watchdogIntervalMs reads WATCHDOG_USEC", () => {
    assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: "30000000" }, 1), 30_000);
    assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: "30000000", WATCHDOG_PID: "1" }, 1), 30_000);
    assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: "x" }, 1), undefined);
    assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: "0" }, 1), undefined);
  });

  test("a failing send is logged, never thrown", async () => {
    const n = new SdNotifier({ env: { NOTIFY_SOCKET: "/run/x" }, pid: 1, clock: new FakeClock(), log: silentLogger(), send: () => Promise.reject(new Error("no systemd-notify")), alive: () => ({ ok: true }) });
    await n.ready("running");
    await n.stopping();
  });
});
