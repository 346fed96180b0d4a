/**
 * Which accounts can take work, and when the exhausted ones come back (contract U3, U5).
 *
 * Each account is `available`, `exhausted` until an instant, or `broken` (an account problem an operator must fix);
 * the active account is a pointer beside that, so the active account can itself be exhausted (every account out).
 * Time comes from the injected clock only. The snapshot is plain JSON the daemon keeps in state.json.
 */
import { z } from "zod";
import type { AccountUsage, UsageWindow } from "../claude/usage-api.js";
import type { Clock } from "../lib/clock.js";
import { AppError } from "../lib/errors.js";

export const BROKEN_REASONS = ["credentials-missing", "credentials-expired", "links-broken"] as const;
export type BrokenReason = (typeof BROKEN_REASONS)[number];

const exhaustedEntry = z.object({
  state: z.literal("exhausted"),
  /** Epoch ms the account is usable again. */
  until: z.number(),
  /** False when no reset time was known and `until` is the fallback guess. */
  reset_known: z.boolean(),
  since: z.number(),
  reason: z.string(),
});
const brokenEntry = z.object({
  state: z.literal("broken"),
  reason: z.enum(BROKEN_REASONS),
  detail: z.string(),
  since: z.number(),
});
const accountEntry = z.discriminatedUnion("state", [z.object({ state: z.literal("available") }), exhaustedEntry, brokenEntry]);
export type AccountEntry = z.infer<typeof accountEntry>;

/** What state.json keeps: every account's entry by name. The active account stays `active_account` beside it. */
export const ledgerSnapshotSchema = z.object({ accounts: z.record(z.string(), accountEntry).default({}) });
export type LedgerSnapshot = z.infer<typeof ledgerSnapshotSchema>;

export type AccountStatus = "active" | "available" | "exhausted" | "broken";

/** One account as /status shows it. */
export interface AccountView {
  name: string;
  status: AccountStatus;
  active: boolean;
  /** Exhausted: epoch ms it comes back; resetKnown false when that is a guess. */
  until?: number;
  resetKnown?: boolean;
  reason?: string;
  detail?: string;
  /** Percent left in the fuller of the five-hour and seven-day windows, from fresh usage data; null without. */
  headroom: number | null;
}

export class LedgerError extends AppError {
  constructor(code: "LEDGER_UNKNOWN_ACCOUNT", message: string) {
    super(code, message);
  }
}

export interface AccountLedgerOptions {
  /** Config order = failover order. */
  accounts: readonly { name: string }[];
  /** The active account as the daemon resolved it (state.json, else the claude link, else the first). */
  active: string | null;
  clock: Clock;
  /** What state.json held; entries for accounts no longer configured are dropped. */
  snapshot?: LedgerSnapshot;
  /** How long an account hit without a reset time stays exhausted (default 1 h); a later hit extends it. */
  unknownResetMs?: number;
  /** Usage data older than this is ignored (default 30 min). */
  usageStaleMs?: number;
  /** `quota.usage_threshold`: a candidate with less headroom than 100 − this is treated as full (default 98). */
  usageThreshold?: number;
  /** Called after every change with the new snapshot: the daemon persists it. */
  onChange?: (snapshot: LedgerSnapshot) => void;
}

const HOUR = 3_600_000;

/** The accounts' states. Reads never change anything: an exhausted account past its `until` reads as available. */
export class AccountLedger {
  private readonly names: readonly string[];
  private readonly entries = new Map<string, AccountEntry>();
  private readonly usage = new Map<string, { at: number; usage: AccountUsage }>();
  private current: string | null;

  constructor(private readonly o: AccountLedgerOptions) {
    this.names = o.accounts.map((a) => a.name);
    for (const name of this.names) this.entries.set(name, o.snapshot?.accounts[name] ?? { state: "available" });
    this.current = o.active !== null && this.names.includes(o.active) ? o.active : (this.names[0] ?? null);
  }

  /** Account names in config order. */
  accounts(): readonly string[] {
    return this.names;
  }

  active(): string | null {
    return this.current;
  }

  setActive(name: string): void {
    this.assertKnown(name);
    this.current = name;
  }

  has(name: string): boolean {
    return this.names.includes(name);
  }

  status(name: string): AccountStatus {
    const entry = this.effective(name);
    if (entry.state === "available") return name === this.current ? "active" : "available";
    return entry.state;
  }

  /** Usable now: neither exhausted (before its reset) nor broken. The active account can be available. */
  isAvailable(name: string): boolean {
    return this.effective(name).state === "available";
  }

  isBroken(name: string): boolean {
    return this.effective(name).state === "broken";
  }

  /**
   * Marks an account out of quota until `until` (epoch ms), or for the fallback period when null. A known reset
   * replaces a guess; two known resets keep the later (a weekly limit outlasts the session one); a guess never
   * extends a known reset. A broken account stays broken.
   */
  markExhausted(name: string, until: number | null, reason: string): void {
    this.assertKnown(name);
    const now = this.o.clock.now();
    const prev = this.effective(name);
    if (prev.state === "broken") return;
    const known = until !== null && until > now;
    const next = known ? until : now + (this.o.unknownResetMs ?? HOUR);
    if (prev.state === "exhausted") {
      if (prev.reset_known && !known) return;
      if (prev.reset_known === known && prev.until >= next) return;
    }
    this.entries.set(name, { state: "exhausted", until: next, reset_known: known, since: now, reason: reason.slice(0, 200) });
    this.changed();
  }

  /** The operator's word (a manual swap to it): usable now, whatever the last hit said. A broken account stays broken. */
  markAvailable(name: string): void {
    this.availableAgain(name, "exhausted");
  }

  markBroken(name: string, reason: BrokenReason, detail: string): void {
    this.assertKnown(name);
    const prev = this.entries.get(name);
    if (prev?.state === "broken" && prev.reason === reason && prev.detail === detail) return;
    this.entries.set(name, { state: "broken", reason, detail: detail.slice(0, 500), since: this.o.clock.now() });
    this.changed();
  }

  /** The operator fixed it (or a check found it fine again): available again. */
  clearBroken(name: string): void {
    this.availableAgain(name, "broken");
  }

  // An account leaves `from` for available; in any other state it is left as it is.
  private availableAgain(name: string, from: "exhausted" | "broken"): void {
    this.assertKnown(name);
    if (this.entries.get(name)?.state !== from) return;
    this.entries.set(name, { state: "available" });
    this.changed();
  }

  /** Fresh usage data for an account (the OAuth usage endpoint). Not persisted: it is fetched again. */
  noteUsage(name: string, usage: AccountUsage): void {
    this.assertKnown(name);
    this.usage.set(name, { at: this.o.clock.now(), usage });
  }

  /** Percent left in the fuller window (five-hour or seven-day), or null without fresh usage data. */
  headroom(name: string): number | null {
    const seen = this.usage.get(name);
    const now = this.o.clock.now();
    if (seen === undefined || now - seen.at > (this.o.usageStaleMs ?? 30 * 60_000)) return null;
    const used = Math.max(utilisation(seen.usage.fiveHour, now), utilisation(seen.usage.sevenDay, now));
    return Math.max(0, 100 - used);
  }

  /** Makes exhausted accounts whose reset has come available again; returns their names (for logs and notices). */
  refresh(): string[] {
    const now = this.o.clock.now();
    const back: string[] = [];
    for (const [name, entry] of this.entries) {
      if (entry.state === "exhausted" && entry.until <= now) {
        this.entries.set(name, { state: "available" });
        back.push(name);
      }
    }
    if (back.length > 0) this.changed();
    return back;
  }

  /**
   * The account to fail over to: available and not active. Usage data decides only when every candidate has fresh
   * data (most headroom, ties in config order); otherwise config order, passing over candidates known to be full.
   */
  nextAccount(options: { exclude?: readonly string[] } = {}): string | null {
    const candidates = this.names.filter((n) => n !== this.current && this.isAvailable(n) && !options.exclude?.includes(n));
    if (candidates.length === 0) return null;
    const rooms = candidates.map((name) => ({ name, room: this.headroom(name) }));
    if (rooms.every((r) => r.room !== null)) {
      let best = rooms[0]!;
      for (const r of rooms) if ((r.room ?? 0) > (best.room ?? 0)) best = r;
      return best.name;
    }
    const full = 100 - (this.o.usageThreshold ?? 98);
    return rooms.find((r) => r.room === null || r.room > full)?.name ?? candidates[0]!;
  }

  /** No account can take work: each is exhausted (before its reset) or broken. */
  allExhausted(): boolean {
    return this.names.every((n) => !this.isAvailable(n));
  }

  /** The soonest instant an exhausted account comes back, or null when none is exhausted (U5: when to wake). */
  earliestReset(): number | null {
    let soonest: number | null = null;
    for (const name of this.names) {
      const e = this.effective(name);
      if (e.state === "exhausted" && (soonest === null || e.until < soonest)) soonest = e.until;
    }
    return soonest;
  }

  view(): AccountView[] {
    return this.names.map((name) => {
      const e = this.effective(name);
      const base = { name, status: this.status(name), active: name === this.current, headroom: this.headroom(name) };
      if (e.state === "exhausted") return { ...base, until: e.until, resetKnown: e.reset_known, reason: e.reason };
      if (e.state === "broken") return { ...base, reason: e.reason, detail: e.detail };
      return base;
    });
  }

  snapshot(): LedgerSnapshot {
    return { accounts: Object.fromEntries(this.names.map((n) => [n, { ...this.entries.get(n)! }])) };
  }

  private effective(name: string): AccountEntry {
    this.assertKnown(name);
    const entry = this.entries.get(name)!;
    return entry.state === "exhausted" && entry.until <= this.o.clock.now() ? { state: "available" } : entry;
  }

  private assertKnown(name: string): void {
    if (!this.entries.has(name)) {
      throw new LedgerError("LEDGER_UNKNOWN_ACCOUNT", `unknown account ${JSON.stringify(name)} (configured: ${this.names.join(", ")})`);
    }
  }

  private changed(): void {
    this.o.onChange?.(this.snapshot());
  }
}

/** A window whose reset has passed is empty again, whatever the last reading said. */
function utilisation(window: UsageWindow | null, now: number): number {
  if (window === null) return 0;
  if (window.resetsAt !== null && window.resetsAt <= now) return 0;
  return Math.min(100, window.utilization);
}
