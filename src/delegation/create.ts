import type { Config } from "../config/schema.js";
import type { Clock } from "../lib/clock.js";
import type { Logger } from "../lib/logger.js";
import { JobClient } from "./client.js";
import { DelegationManager } from "./manager.js";
import type { DelegationEvent, DelegationNotice } from "./manager-types.js";
import { delegationSettingsFromEnv } from "./settings.js";

export interface CreateDelegationOptions {
  config: Pick<Config, "delegation" | "queue" | "state_dir">;
  env: NodeJS.ProcessEnv;
  clock: Clock;
  log: Logger;
  notify(notice: DelegationNotice): void;
  record(event: DelegationEvent): void;
  fetch?: typeof fetch;
}

/**
 * The daemon's one call: a DelegationManager (not started) when contract §8's activation rule holds, undefined
 * otherwise — and then nothing about delegation exists, the behaviour is exactly the local-only one.
 * Throws DelegationError(DELEGATION_CONFIG) for a URL or key that cannot be used (a start-up error).
 */
export function createDelegationManager(o: CreateDelegationOptions): DelegationManager | undefined {
  const on = delegationSettingsFromEnv(o.config, o.env);
  if (!on) return undefined;
  const log = o.log.child({ component: "delegation" });
  const client = new JobClient({ url: on.url, apiKey: on.apiKey, clock: o.clock, log, ...(o.fetch ? { fetch: o.fetch } : {}) });
  log.info({ url: new URL(on.url).origin, key_from: on.keySource, ...on.settings }, "delegation is on");
  return new DelegationManager({
    queue: { root: o.config.queue.root, projects: o.config.queue.projects },
    client, clock: o.clock, log: o.log, stateDir: o.config.state_dir, settings: on.settings, notify: (n) => o.notify(n), record: (e) => o.record(e),
  });
}
