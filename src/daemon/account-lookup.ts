import type { AccountConfig } from "../config/schema.js";
import type { Logger } from "../lib/logger.js";

/** How a record names its account: by name (task records) or by home (the switcher's ports). */
export type AccountKey = { name: string } | { home: string };

/**
 * The configured account `key` names. One no longer configured (a record from before a config
 * change) gets the first account, and the warning says which was asked for and which is used.
 */
export function accountOrFirst(accounts: readonly AccountConfig[], key: AccountKey, log: Logger, purpose: string): AccountConfig {
  const found = "name" in key ? accounts.find((a) => a.name === key.name) : accounts.find((a) => a.home === key.home);
  if (found) return found;
  const first = accounts[0]!;
  log.warn({ unknown: "name" in key ? key.name : key.home, using: first.name, purpose }, "unknown account: the first configured account is used");
  return first;
}
