/**
 * When an account hit at its usage limit can be used again: never before the end of the minute the
 * screen shows plus a grace period, at the exact reset when one is known, and — when a resume hits the wall again —
 * after a backoff of 1, 2, 4 … minutes (capped) rather than an hour's guess. Pure: time from the injected clock.
 */
import { resetDeadline } from "../claude/reset-time.js";
import type { AccountUsage } from "../claude/usage-api.js";
import type { Clock } from "../lib/clock.js";

const MINUTE = 60_000;

export interface ResetPolicy {
  /** Wait this long past the reset before using the account again (default 60 s). */
  graceMs?: number;
  /** First backoff after a resume met the wall again (default 1 min); doubles each time. */
  backoffFirstMs?: number;
  /** Longest backoff (default 16 min). */
  backoffMaxMs?: number;
  /** A hit this long after the account came back is a new limit, not the same wall (default 30 min). */
  recoveryMs?: number;
}

/** Where the instant came from, for the events log. */
export type ResetFrom = "exact" | "minute" | "usage-api" | "backoff" | "unknown";

export interface Reckoning {
  /** Best estimate of the real reset (epoch ms), null when none is known or it is already past. */
  resetsAt: number | null;
  /** When the account may be used again (the ledger's `until`); null: unknown, the ledger's fallback applies. */
  until: number | null;
  from: ResetFrom;
  detail: string;
}

export interface HitForReset {
  account: string;
  source: string;
  /** The matched text: tells a time printed to the minute from an exact one. */
  text: string;
  /** As parsed from the text (the start of the printed minute), or exact from the usage API. */
  resetsAt: number | null;
}

export class ResetReckoner {
  private readonly usage = new Map<string, { at: number; usage: AccountUsage }>();
  /** Accounts that came back from a limit, and how many times a resume met the wall since. */
  private readonly back = new Map<string, { at: number; step: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly policy: ResetPolicy = {},
  ) {}

  get graceMs(): number {
    return this.policy.graceMs ?? MINUTE;
  }

  /** A usage reading: its windows' `resets_at` are to the second. */
  noteUsage(account: string, usage: AccountUsage): void {
    this.usage.set(account, { at: this.clock.now(), usage });
  }

  /** The account's reset came (plus grace): the next hit within `recoveryMs` is the same wall, met again. */
  noteBack(account: string): void {
    const prev = this.back.get(account);
    this.back.set(account, { at: this.clock.now(), step: prev?.step ?? 0 });
  }

  /** A turn ended normally on the account (a Stop): it works again, the backoff starts over. */
  noteSuccess(account: string): void {
    this.back.delete(account);
  }

  /** The reset and the instant the account may be used again, for one hit. */
  reckon(hit: HitForReset): Reckoning {
    const now = this.clock.now();
    let resetsAt: number | null = null;
    let from: ResetFrom = "unknown";
    if (hit.resetsAt !== null) {
      if (hit.source === "usage-api") {
        resetsAt = hit.resetsAt;
        from = "usage-api";
      } else {
        const deadline = resetDeadline(hit.text, hit.resetsAt);
        const exact = deadline.exact ? null : this.exactWithin(hit.account, hit.resetsAt);
        resetsAt = exact ?? deadline.at;
        from = deadline.exact ? "exact" : exact !== null ? "usage-api" : "minute";
      }
      if (resetsAt <= now) {
        resetsAt = null;
        from = "unknown";
      }
    }
    let until = resetsAt === null ? null : resetsAt + this.graceMs;
    let detail = resetsAt === null ? "no reset known" : `reset ${new Date(resetsAt).toISOString()} (${from}) + ${Math.round(this.graceMs / 1000)} s grace`;
    const back = this.back.get(hit.account);
    if (back !== undefined && now - back.at < (this.policy.recoveryMs ?? 30 * MINUTE)) {
      // The resume met the wall again: the shown reset may be the one just passed, or a guess: back off and retry.
      const delay = Math.min((this.policy.backoffFirstMs ?? MINUTE) * 2 ** back.step, this.policy.backoffMaxMs ?? 16 * MINUTE);
      back.step++;
      if (until === null || until < now + delay) {
        until = now + delay;
        from = "backoff";
      }
      detail = `the resume met the wall again (${back.step}×): back off ${Math.round(delay / 1000)} s; ${detail}`;
    }
    return { resetsAt, until, from, detail };
  }

  /** A fresh usage reading's reset to the second inside the printed minute `[start, start + 1 min)`. */
  private exactWithin(account: string, start: number): number | null {
    const seen = this.usage.get(account);
    if (seen === undefined || this.clock.now() - seen.at > 30 * MINUTE) return null;
    for (const w of [seen.usage.fiveHour, seen.usage.sevenDay]) {
      if (w?.resetsAt != null && w.resetsAt >= start && w.resetsAt < start + MINUTE) return w.resetsAt;
    }
    return null;
  }
}
