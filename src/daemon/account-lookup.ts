import { readlink } from "node:fs/promises";
import path from "node:path";
import type { AccountConfig } from "../config/schema.js";
import { describeError, isNotFound } from "../lib/errors.js";
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

/**
 * The account active at start: the one recorded in state, else the one the claude link points at, else the
 * first configured one. That last fallback is logged with why (no link, or a link to no configured home), since
 * the operator may have meant another account.
 */
export async function activeAccountAtStart(accounts: readonly AccountConfig[], recorded: string | null | undefined, link: string, log: Logger): Promise<string> {
  if (recorded && accounts.some((a) => a.name === recorded)) return recorded;
  const first = accounts[0]!.name;
  const unknown = recorded ? { recorded } : {};
  let target: string;
  try {
    target = path.resolve(path.dirname(link), await readlink(link));
  } catch (err) {
    const why = isNotFound(err) ? "there is no claude link yet" : `the claude link cannot be read (${describeError(err)})`;
    log.info({ link, using: first, ...unknown }, `active account: ${why}; the first configured account is used`);
    return first;
  }
  const match = accounts.find((a) => path.resolve(a.home) === target);
  if (match) return match.name;
  log.info({ link, target, using: first, ...unknown }, "active account: the claude link points at no configured account's home; the first configured account is used");
  return first;
}
