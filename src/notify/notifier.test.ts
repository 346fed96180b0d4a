import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock } from "../lib/test-clock.js";
import { silentLogger } from "../lib/logger.js";
import { MAX_NOTIFICATION_CHARS, Notifier, type Notification, type NotificationChannel } from "./notifier.js";

function recorder(fail = false): NotificationChannel & { got: Notification[] } {
  const got: Notification[] = [];
  return { name: "rec", got, send: async (n) => {
    if (fail) throw new Error("channel down");
    got.push(n);
  } };
}

test("the same event is not repeated within min_interval; another key or kind is", async () => {
  const clock = new FakeClock();
  const ch = recorder();
  const n = new Notifier({ channels: [ch], clock, log: silentLogger(), minIntervalMs: 300_000 });
  assert.deepEqual(await n.notify({ kind: "all-exhausted", text: "all accounts exhausted" }), { sent: true });
  assert.deepEqual(await n.notify({ kind: "all-exhausted", text: "again" }), { sent: false });
  await n.notify({ kind: "task-failed", text: "t1 failed", key: "p/t1" });
  await n.notify({ kind: "task-failed", text: "t2 failed", key: "p/t2" });
  await clock.advance(300_000);
  await n.notify({ kind: "all-exhausted", text: "still exhausted" });
  assert.deepEqual(ch.got.map((g) => g.text), ["all accounts exhausted", "t1 failed", "t2 failed", "still exhausted"]);
});

test("a failing channel is logged, never thrown, and does not stop the others", async () => {
  const good = recorder();
  const n = new Notifier({ channels: [recorder(true), good], clock: new FakeClock(), log: silentLogger(), minIntervalMs: 0 });
  await n.notify({ kind: "swap-done", text: "swapped main → backup" });
  assert.equal(good.got.length, 1);
});

test("a text past MAX_NOTIFICATION_CHARS reaches every channel cut, with an ellipsis (Telegram refuses 4096+)", async () => {
  const ch = recorder();
  const n = new Notifier({ channels: [ch], clock: new FakeClock(), log: silentLogger(), minIntervalMs: 0 });
  await n.notify({ kind: "delegation-failed", text: `Delegated task p/t1 failed: ${"x".repeat(5 * 1024 * 1024)}`, key: "p/t1" });
  const text = ch.got[0]!.text;
  assert.equal(text.length, MAX_NOTIFICATION_CHARS);
  assert.ok(text.startsWith("Delegated task p/t1 failed: xxx") && text.endsWith("x…"));
  await n.notify({ kind: "swap-done", text: "short" });
  assert.equal(ch.got[1]!.text, "short");
});
