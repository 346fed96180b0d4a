import type { Config } from "../config/schema.js";
import { DELEGATION_KEY_ENV } from "../config/secrets.js";
import { DelegationError } from "./errors.js";

/** The manager's timing and budget, from the `delegation:` config section (milliseconds and dollars). */
export interface DelegationSettings {
  /** The least time between two polls of one job. */
  pollIntervalMs: number;
  /** A job not finished this long after its submission is failed. */
  jobTimeoutMs: number;
  /** The reaper's period. */
  reapIntervalMs: number;
  /** 0 = no budget. */
  dailyBudgetUsd: number;
}

/** Delegation switched on: where the service is, its key, and the manager's settings. */
export interface DelegationActivation {
  url: string;
  apiKey: string;
  /** Which variable the key came from (for logs; never the key). */
  keySource: (typeof DELEGATION_KEY_ENV)[number];
  settings: DelegationSettings;
}

/** The key from the environment: CCL_SECUTOOLS_API_KEY, else SECUTOOLS_API_KEY (empty counts as unset). */
export function apiKeyFromEnv(env: NodeJS.ProcessEnv): { apiKey: string; keySource: DelegationActivation["keySource"] } | undefined {
  for (const name of DELEGATION_KEY_ENV) {
    const value = env[name]?.trim();
    if (value) return { apiKey: value, keySource: name };
  }
  return undefined;
}

/**
 * Contract §8 activation: undefined (local-only behaviour, exactly) unless a key is set and a URL is known —
 * `delegation.url` from the config file, else CCL_SECUTOOLS_URL. A URL from the environment that is not
 * http(s) is refused at start rather than silently leaving delegation off.
 */
export function delegationSettingsFromEnv(config: Pick<Config, "delegation">, env: NodeJS.ProcessEnv): DelegationActivation | undefined {
  const key = apiKeyFromEnv(env);
  if (!key) return undefined;
  const url = config.delegation.url || env.CCL_SECUTOOLS_URL?.trim() || "";
  if (url === "") return undefined;
  if (!/^https?:\/\/[^\s]+$/.test(url)) throw new DelegationError("DELEGATION_CONFIG", `CCL_SECUTOOLS_URL: expected an http(s) URL (got ${JSON.stringify(url.slice(0, 200))})`);
  const d = config.delegation;
  return {
    url,
    ...key,
    settings: { pollIntervalMs: d.poll_interval, jobTimeoutMs: d.job_timeout, reapIntervalMs: d.reap_interval, dailyBudgetUsd: d.daily_budget_usd },
  };
}
