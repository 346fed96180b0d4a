import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, validateConfig } from "./loader.js";
import { DURATION_LIMITS } from "./schema.js";
import { parseDuration } from "../lib/duration.js";

const base = () => ({ accounts: [{ name: "main", home: "/home/op/.claude-main" }] });

/** The config with one dotted key set, e.g. "janitor.interval" = "30d". */
function withKey(key: string, value: unknown): Record<string, unknown> {
  const [section, name] = key.split(".") as [string, string];
  return { ...base(), [section]: { [name]: value } };
}

function problemsOf(raw: unknown): readonly string[] {
  try {
    validateConfig(raw, "/etc/cf/config.yaml", "/home/op");
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  return [];
}

const valueAt = (c: Record<string, unknown>, key: string): unknown => {
  const [section, name] = key.split(".") as [string, string];
  return (c[section] as Record<string, unknown>)[name];
};

const EVERY_DURATION_KEY = [
  "queue.rescan_interval", "queue.task_timeout", "queue.settle", "watcher.poll_interval", "watcher.stall_timeout", "quota.poll_interval",
  "quota.reactivate_cooldown", "notifications.min_interval", "janitor.interval", "janitor.done_retention",
  "janitor.failed_retention", "delegation.poll_interval", "delegation.job_timeout", "delegation.reap_interval",
];

describe("every duration key has a minimum and a maximum", () => {
  test("the table covers every duration of the schema", () => assert.deepEqual(Object.keys(DURATION_LIMITS).sort(), [...EVERY_DURATION_KEY].sort()));

  for (const [key, { min, max }] of Object.entries(DURATION_LIMITS)) {
    test(`${key}: ${min} and ${max} load, below and above are refused by key path`, () => {
      const minMs = parseDuration(min)!;
      const maxMs = parseDuration(max)!;
      for (const [text, ms] of [[min, minMs], [max, maxMs]] as const) {
        const c = validateConfig(withKey(key, text), "/etc/cf/config.yaml", "/home/op") as unknown as Record<string, unknown>;
        assert.equal(valueAt(c, key), ms);
      }
      const tooLong = `${maxMs + 1}ms`;
      assert.ok(problemsOf(withKey(key, tooLong)).some((p) => p.startsWith(`${key}: must lie between ${min} and ${max}`)), `${key} = ${tooLong}`);
      if (minMs > 0) {
        const tooShort = `${minMs - 1}ms`;
        assert.ok(problemsOf(withKey(key, tooShort)).some((p) => p.startsWith(`${key}: must lie between`)), `${key} = ${tooShort}`);
      }
    });
  }

  test("no maximum of a timer-driven wait passes Node's timer limit unless the clock chains it", () => {
    // janitor.interval may exceed 2^31-1 ms: systemClock.sleep chains the wait (see clock.test.ts).
    for (const key of ["queue.rescan_interval", "watcher.poll_interval", "quota.poll_interval", "delegation.poll_interval", "delegation.reap_interval"]) {
      assert.ok(parseDuration(DURATION_LIMITS[key]!.max)! <= 2 ** 31 - 1, key);
    }
  });

  const zeros = ["queue.rescan_interval", "watcher.poll_interval", "quota.poll_interval", "delegation.poll_interval", "delegation.reap_interval", "janitor.interval", "queue.task_timeout", "delegation.job_timeout"];
  for (const key of zeros) {
    test(`${key}: 0s is refused`, () => assert.ok(problemsOf(withKey(key, "0s")).some((p) => p.startsWith(`${key}: must lie between`))));
  }

  test("janitor.interval: 30d loads", () => {
    const c = validateConfig(withKey("janitor.interval", "30d"), "/etc/cf/config.yaml", "/home/op");
    assert.equal(c.janitor.interval, 30 * 86_400_000);
  });
});

describe("listen rules", () => {
  const cases: [string, Record<string, unknown>, boolean][] = [
    ["loopback v4 without a token", { listen: "127.0.0.1:7420" }, true],
    ["127.0.0.2 (loopback) without a token", { listen: "127.0.0.2:7420" }, true],
    ["localhost without a token", { listen: "localhost:7420" }, true],
    ["[::1] without a token", { listen: "[::1]:7420" }, true],
    ["0.0.0.0 without a token", { listen: "0.0.0.0:7420" }, false],
    ["[::] without a token", { listen: "[::]:7420" }, false],
    ["a LAN address without a token", { listen: "192.168.1.5:7420" }, false],
    ["a host name without a token", { listen: "cf.example.lan:7420" }, false],
    ["0.0.0.0 with a token", { listen: "0.0.0.0:7420", token_env: "CF_TOKEN" }, true],
  ];
  for (const [name, http, ok] of cases) {
    test(`${name}: ${ok ? "loads" : "refused at http.listen"}`, () => {
      const problems = problemsOf({ ...base(), http });
      if (ok) assert.deepEqual(problems, []);
      else assert.ok(problems.some((p) => p.startsWith("http.listen:") && p.includes("http.token_env")), problems.join("\n"));
    });
  }

  test("http.allowed_hosts takes names, not ports or URLs", () => {
    assert.deepEqual(problemsOf({ ...base(), http: { allowed_hosts: ["cf.example.lan"] } }), []);
    for (const bad of ["cf.example.lan:7420", "http://cf.example.lan", "", "a b"]) {
      assert.ok(problemsOf({ ...base(), http: { allowed_hosts: [bad] } }).some((p) => p.startsWith("http.allowed_hosts[0]:")), bad);
    }
  });
});
