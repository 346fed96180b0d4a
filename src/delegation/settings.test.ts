import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Config } from "../config/schema.js";
import { systemClock } from "../lib/clock.js";
import { silentLogger } from "../lib/logger.js";
import { createDelegationManager } from "./create.js";
import { DelegationManager } from "./manager.js";
import { delegationSettingsFromEnv } from "./settings.js";

const config = (url = "") => ({ delegation: { url, poll_interval: 2000, job_timeout: 1_800_000, reap_interval: 10_000, daily_budget_usd: 5 } });

describe("delegationSettingsFromEnv: contract §8 activation", () => {
  for (const [name, url, env, expected] of [
    ["nothing set", "", {}, undefined],
    ["a key but no URL", "", { CCL_SECUTOOLS_API_KEY: "k" }, undefined],
    ["a URL but no key", "https://svc", {}, undefined],
    ["an empty key is no key", "https://svc", { CCL_SECUTOOLS_API_KEY: "  ", SECUTOOLS_API_KEY: "" }, undefined],
    ["config URL + CCL key", "https://svc", { CCL_SECUTOOLS_API_KEY: "k1" }, { url: "https://svc", apiKey: "k1", keySource: "CCL_SECUTOOLS_API_KEY" }],
    ["the CCL key wins over SECUTOOLS_API_KEY", "https://svc", { CCL_SECUTOOLS_API_KEY: "k1", SECUTOOLS_API_KEY: "k2" }, { url: "https://svc", apiKey: "k1", keySource: "CCL_SECUTOOLS_API_KEY" }],
    ["SECUTOOLS_API_KEY alone", "https://svc", { SECUTOOLS_API_KEY: " k2\n" }, { url: "https://svc", apiKey: "k2", keySource: "SECUTOOLS_API_KEY" }],
    ["CCL_SECUTOOLS_URL when the config has none", "", { SECUTOOLS_API_KEY: "k2", CCL_SECUTOOLS_URL: "http://127.0.0.1:9" }, { url: "http://127.0.0.1:9", apiKey: "k2", keySource: "SECUTOOLS_API_KEY" }],
    ["the config URL wins over CCL_SECUTOOLS_URL", "https://svc", { SECUTOOLS_API_KEY: "k2", CCL_SECUTOOLS_URL: "http://other" }, { url: "https://svc", apiKey: "k2", keySource: "SECUTOOLS_API_KEY" }],
    ["the mock URL is for ccl-delegate only", "", { SECUTOOLS_API_KEY: "k2", CCL_SECUTOOLS_MOCK_URL: "http://127.0.0.1:9" }, undefined],
  ] as const) {
    test(name, () => {
      const got = delegationSettingsFromEnv(config(url), env);
      if (expected === undefined) return assert.equal(got, undefined);
      assert.deepEqual(got, { ...expected, settings: { pollIntervalMs: 2000, jobTimeoutMs: 1_800_000, reapIntervalMs: 10_000, dailyBudgetUsd: 5 } });
    });
  }

  test("a CCL_SECUTOOLS_URL that is not http(s) is refused", () => {
    assert.throws(() => delegationSettingsFromEnv(config(), { SECUTOOLS_API_KEY: "k", CCL_SECUTOOLS_URL: "ftp://x" }), { code: "DELEGATION_CONFIG" });
  });
});

describe("createDelegationManager", () => {
  const full = (url: string) => ({ ...config(url), queue: { root: "/tmp/q", projects: {} } as unknown as Config["queue"], state_dir: "/tmp/s" });
  const deps = { clock: systemClock, log: silentLogger(), notify: () => undefined, record: () => undefined };

  test("nothing when delegation is off", () => {
    assert.equal(createDelegationManager({ ...deps, config: full(""), env: { SECUTOOLS_API_KEY: "k" } }), undefined);
  });

  test("a manager, not started, when it is on", () => {
    const m = createDelegationManager({ ...deps, config: full("https://svc.example"), env: { SECUTOOLS_API_KEY: "k" } });
    assert.ok(m instanceof DelegationManager);
    assert.equal(m.state, "idle");
  });

  test("a key a header cannot carry is a start-up error", () => {
    assert.throws(() => createDelegationManager({ ...deps, config: full("https://svc.example"), env: { SECUTOOLS_API_KEY: "a b" } }), { code: "DELEGATION_CONFIG" });
  });
});
