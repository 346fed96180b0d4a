/**
 * The quota monitor's vocabulary: what it decides, the forensic record every sighting leaves (U4), and the narrow
 * ports and settings it is built with.
 */
import type { AccountStatus } from "../accounts/ledger.js";
import type { AccountUsage } from "../claude/usage-api.js";
import type { Clock } from "../lib/clock.js";
import type { Logger } from "../lib/logger.js";
import type { QuotaDecisionEvent } from "../state/events.js";
import type { ResetPolicy } from "./reset-reckoner.js";

export type QuotaSource = "hook" | "transcript" | "screen" | "usage-api";

export interface SwapDecision {
  kind: "swap";
  from: string;
  /** The account chosen (ledger order, or most headroom); the switcher checks it again. */
  to: string;
  reason: string;
  /** `ledger`: no new sighting, the active account was found unusable (after a cooldown, or an account came back). */
  source: QuotaSource | "ledger";
  session: string | null;
  /** At most 120 characters. */
  matchedText: string;
  resetsAt: number | null;
}
/** Every account is exhausted or broken: stop dispatching, notify once, wake at `resetsAt` (the earliest reset). */
export interface ExhaustedDecision {
  kind: "exhausted";
  /** The active account, which ran out last. */
  account: string;
  resetsAt: number | null;
}
/** After every account was out, the active one is usable again: resume work on it (see planResume). */
export interface ResumeDecision {
  kind: "resume";
  account: string;
}
export type QuotaDecision = SwapDecision | ExhaustedDecision | ResumeDecision;

export type SuppressReason =
  | "cooldown"
  | "not-active"
  | "duplicate"
  | "unconfirmed"
  | "not-a-usage-limit"
  | "history"
  | "all-exhausted"
  | "no-better-account"
  | "unknown-account";

/** What the monitor needs from the account ledger (AccountLedger fits). */
export interface QuotaLedgerPort {
  active(): string | null;
  has(name: string): boolean;
  status(name: string): AccountStatus;
  isAvailable(name: string): boolean;
  markExhausted(name: string, until: number | null, reason: string): void;
  noteUsage(name: string, usage: AccountUsage): void;
  headroom(name: string): number | null;
  nextAccount(): string | null;
  earliestReset(): number | null;
  refresh(): string[];
}

export interface QuotaSettings {
  /** `quota.confirm_polls`. */
  confirmPolls: number;
  /** `quota.reactivate_cooldown` in ms. */
  reactivateCooldownMs: number;
  /** `quota.usage_threshold`, percent. */
  usageThreshold: number;
  /** Zone for reset times printed without one (default: this process's). */
  hostZone?: string;
  /** A spinner this soon after a hit is the tail of that turn, not new work (default 30 s). */
  episodeGraceMs?: number;
  /** Grace past a reset and backoff when a resume meets the wall again (see ResetReckoner). */
  reset?: ResetPolicy;
}

export interface QuotaMonitorDeps {
  ledger: QuotaLedgerPort;
  clock: Clock;
  log: Logger;
  settings: QuotaSettings;
  /** Receives every forensic record (the daemon appends them to events.jsonl). */
  record: (r: QuotaDecisionEvent) => void;
  /** The last swap actually made (manual ones too), so the cooldown counts from it. */
  lastSwapAt?: () => number | null;
}
