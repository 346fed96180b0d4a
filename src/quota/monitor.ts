/**
 * Usage-limit detection → confirmation → cooldown → swap decision (contract U1–U5). Pure logic: the daemon feeds it
 * observations (hooks, transcript error lines, screen verdicts, usage readings) and carries out what it decides.
 *
 * A "hit" is one usage limit in one session. It opens an episode for that session; every further sighting of it,
 * from any source, is a duplicate until the session shows new work (a prompt, a Stop, a spinner). Each hit marks
 * its account exhausted in the ledger; only a hit on the active account can lead to a swap.
 */
import { classifyBanner } from "../claude/screen-banners.js";
import { isUsageLimitFailure, type HookEvent } from "../claude/hooks.js";
import { parseResetTime } from "../claude/reset-time.js";
import type { ScreenVerdict } from "../claude/screen.js";
import type { ApiErrorLine } from "../claude/transcripts.js";
import type { AccountUsage, UsageWindow } from "../claude/usage-api.js";
import type { QuotaDecisionEvent } from "../state/events.js";
import { ResetReckoner, type ResetFrom } from "./reset-reckoner.js";
import type {
  QuotaDecision,
  QuotaMonitorDeps,
  QuotaSource,
  SuppressReason,
} from "./decisions.js";

export type * from "./decisions.js";

interface Hit {
  account: string;
  session: string | null;
  source: QuotaSource | "ledger";
  text: string;
  resetsAt: number | null;
  /** Where the reset came from and when the account is used again (the events log keeps both). */
  resetFrom?: ResetFrom;
  detail?: string;
}

interface SessionQuota {
  /** Consecutive limit polls without a reset time (U2). */
  suspect: { polls: number; account: string; text: string } | null;
  episode: { at: number; sources: Set<string>; account: string } | null;
  /** Relaunched with --resume: the replayed history is not evidence until new work shows. */
  replaying: boolean;
  historyNoted: boolean;
  workSeenAt: number | null;
  /** The claude session id of the agent this is about, when known. */
  agent: string | null;
}

const MAX_SESSIONS = 1000;
const MAX_SEEN_LINES = 2000;
const TEXT_MAX = 120;

/** Turns observations into swap / exhausted / resume decisions. Every method returns the decisions it made. */
export class QuotaMonitor {
  private readonly sessions = new Map<string, SessionQuota>();
  private readonly seenLines = new Set<string>();
  private readonly lastHit = new Map<string, Hit>();
  private readonly proactiveWhy = new Map<string, SuppressReason>();
  private lastDecisionAt: number | null = null;
  private allOut = false;
  private readonly resets: ResetReckoner;

  constructor(private readonly d: QuotaMonitorDeps) {
    this.resets = new ResetReckoner(d.clock, d.settings.reset);
  }

  /**
   * Sessions whose agent met a limit and has done no new work since: each gets its continuation at a resume,
   * the first interrupted as well as the last. `agent` is its claude session id.
   */
  interrupted(): { session: string; agent: string | null; account: string }[] {
    const out: { session: string; agent: string | null; account: string }[] = [];
    for (const [session, s] of this.sessions) if (s.episode !== null && !session.startsWith("usage:")) out.push({ session, agent: s.agent, account: s.episode.account });
    return out;
  }

  /** The daemon submitted a prompt in `session` (a "continue"): new work, so a limit met now is a new hit. */
  noteSubmitted(session: string, agent?: string): void {
    this.workSeen(this.session(session, agent), true);
  }

  /** True between an `exhausted` decision and the swap or `resume` that ends it. */
  get waitingForReset(): boolean {
    return this.allOut;
  }

  /** A hook event from an agent in `session`, running on `account` (the agent is the event's session id). */
  observeHook(event: HookEvent, session: string, account: string): QuotaDecision[] {
    const s = this.session(session, event.sessionId);
    if (event.kind === "UserPromptSubmit" || event.kind === "Stop") {
      if (event.kind === "Stop") this.resets.noteSuccess(account);
      this.workSeen(s, true);
      return [];
    }
    if (event.kind !== "StopFailure" || event.error !== "rate_limit") return [];
    const text = event.lastAssistantMessage ?? "";
    // Measured on 2.1.197: rate_limit also comes with plain throttling ("not your usage limit"); only the banner is quota.
    if (!isUsageLimitFailure(event) || vetoed(text)) {
      this.note({ account, session, source: "hook", text, resetsAt: null }, "suppressed", "not-a-usage-limit", "StopFailure rate_limit without a usage-limit banner");
      return [];
    }
    return this.sighting(s, { account, session, source: "hook", text, resetsAt: this.resetIn(text) });
  }

  /**
   * A synthetic API-error line from the transcript of `session`. `since` is when the current work there began
   * (submit or resume): older lines are history, e.g. the limit that sent this transcript over from another account.
   */
  observeTranscriptError(line: ApiErrorLine, session: string, account: string, since?: number, agent?: string): QuotaDecision[] {
    const key = `${line.uuid ?? ""}|${line.timestamp ?? ""}|${line.text.slice(0, 200)}`;
    if (this.seenLines.has(key)) return [];
    this.seenLines.add(key);
    if (this.seenLines.size > MAX_SEEN_LINES) this.seenLines.delete(this.seenLines.values().next().value!);
    if (line.error !== "rate_limit") return [];
    const hit: Hit = { account, session, source: "transcript", text: line.text, resetsAt: null };
    if (!line.usageLimit || vetoed(line.text)) {
      this.note(hit, "suppressed", "not-a-usage-limit", "rate_limit line without a usage-limit banner");
      return [];
    }
    const s = this.session(session, agent);
    const at = line.timestamp === undefined ? NaN : Date.parse(line.timestamp);
    const floor = Math.max(since ?? -Infinity, s.workSeenAt ?? -Infinity);
    if (Number.isFinite(at) && at < floor) {
      this.note(hit, "suppressed", "history", `line written ${new Date(at).toISOString()}, before the current work`);
      return [];
    }
    return this.sighting(s, { ...hit, resetsAt: this.resetIn(line.text) });
  }

  /** The classifier's verdict on `session`'s screen, once per poll of each working session; `agent` is its claude session id. */
  observeScreen(verdict: ScreenVerdict, session: string, account: string, agent?: string): QuotaDecision[] {
    const s = this.session(session, agent);
    const limit = verdict.limit;
    if (verdict.state !== "limit" || limit === null) {
      if (s.suspect !== null) {
        const cleared = { account: s.suspect.account, session, source: "screen" as const, text: s.suspect.text, resetsAt: null };
        this.note(cleared, "suppressed", "unconfirmed", `cleared by ${verdict.state}/${verdict.detail} after ${s.suspect.polls} poll(s)`);
        s.suspect = null;
      }
      if (verdict.state === "busy") this.workSeen(s, false);
      return [];
    }
    const hit: Hit = { account, session, source: "screen", text: limit.text, resetsAt: limit.resetsAt };
    if (s.replaying) {
      if (!s.historyNoted) this.note(hit, "suppressed", "history", "replayed by --resume; no new work since");
      s.historyNoted = true;
      return [];
    }
    if (s.episode !== null || limit.resetsAt !== null) {
      s.suspect = null;
      return this.sighting(s, hit);
    }
    // U2: without a reset time the banner must hold for confirm_polls polls in a row (a lone transient error is no limit).
    const polls = s.suspect !== null && s.suspect.account === account ? s.suspect.polls + 1 : 1;
    s.suspect = { polls, account, text: limit.text };
    if (polls < this.d.settings.confirmPolls) {
      if (polls === 1) this.note(hit, "pending", "unconfirmed", `1/${this.d.settings.confirmPolls} polls, no reset time on screen`);
      return [];
    }
    s.suspect = null;
    return this.sighting(s, hit);
  }

  /**
   * A usage reading for an account: kept for headroom; a full window marks the account exhausted; the active account
   * at or over usage_threshold swaps before the wall, to the account with the most headroom.
   */
  observeUsage(account: string, usage: AccountUsage): QuotaDecision[] {
    if (!this.d.ledger.has(account)) return [];
    this.d.ledger.noteUsage(account, usage);
    this.resets.noteUsage(account, usage);
    const now = this.d.clock.now();
    const windows = (
      [["five_hour", usage.fiveHour], ["seven_day", usage.sevenDay]] as [string, UsageWindow | null][]
    ).filter((w): w is [string, UsageWindow] => w[1] !== null && (w[1].resetsAt === null || w[1].resetsAt > now));
    const key = `usage:${account}`;
    const s = this.session(key);
    const threshold = this.d.settings.usageThreshold;
    const over = windows.filter(([, w]) => w.utilization >= threshold);
    if (over.length === 0) {
      this.workSeen(s, true);
      this.proactiveWhy.delete(account);
      return [];
    }
    const resets = over.map(([, w]) => w.resetsAt).filter((r): r is number => r !== null);
    const hit: Hit = {
      account, session: null, source: "usage-api",
      text: windows.map(([name, w]) => `${name} ${Math.round(w.utilization)}%`).join(" · "),
      resetsAt: resets.length > 0 ? Math.max(...resets) : null,
    };
    if (over.some(([, w]) => w.utilization >= 100)) return this.sighting(s, hit);
    if (account !== this.d.ledger.active()) return [];
    const to = this.d.ledger.nextAccount();
    const room = (name: string): number | null => this.d.ledger.headroom(name);
    let why: SuppressReason | null = null;
    if (to === null || (room(to) !== null && room(to)! <= (room(account) ?? 0))) why = "no-better-account";
    else if (this.cooldownLeft(now) > 0) why = "cooldown";
    if (why !== null) {
      if (this.proactiveWhy.get(account) !== why) this.note(hit, "suppressed", why, `usage ≥ ${threshold}%`);
      this.proactiveWhy.set(account, why);
      return [];
    }
    this.proactiveWhy.delete(account);
    // Marked so the next choice does not come straight back before the window resets.
    this.d.ledger.markExhausted(account, hit.resetsAt, `usage-api: ${hit.text}`);
    this.lastHit.set(account, hit);
    return this.decide(hit);
  }

  /**
   * Once per poll: brings back accounts whose reset came, and acts on what the ledger now says — a swap held back by
   * the cooldown, an account back after every one was out (swap to it, or `resume` when it is the active one).
   */
  tick(): QuotaDecision[] {
    for (const name of this.d.ledger.refresh()) {
      this.resets.noteBack(name);
      this.d.log.info({ account: name }, "account reset: available again");
    }
    return this.decide(null);
  }

  /**
   * `session` was relaunched with `--resume` (after a swap or a restart): Claude Code replays the history, whose
   * last turn may be the limit that caused the swap. Its screen is not evidence until new work shows there.
   */
  noteResumed(session: string, agent?: string): void {
    const s = this.session(session, agent);
    s.replaying = true;
    s.historyNoted = false;
    s.suspect = null;
    // It was sent its continuation with the relaunch: no longer interrupted (the replay is history, above).
    s.episode = null;
  }

  /**
   * Whether `session` (its agent `agent`) is held at a usage limit: a sighting confirmed and not yet ended by new
   * work or a resume. The one answer to "is this task at a usage limit" (supervision asks it, not the banner).
   */
  holds(session: string, agent?: string): boolean {
    const s = this.sessions.get(session);
    return s !== undefined && s.episode !== null && (agent === undefined || s.agent === null || s.agent === agent);
  }

  // ---------------------------------------------------------------------------------------------

  /** A confirmed sighting: a duplicate of the open episode, or a new hit. */
  private sighting(s: SessionQuota, hit: Hit): QuotaDecision[] {
    if (s.episode !== null) {
      if (!s.episode.sources.has(hit.source)) this.note(hit, "suppressed", "duplicate", "same hit as already decided for this session");
      s.episode.sources.add(hit.source);
      return [];
    }
    if (!this.d.ledger.has(hit.account)) {
      this.note(hit, "suppressed", "unknown-account");
      return [];
    }
    s.episode = { at: this.d.clock.now(), sources: new Set([hit.source]), account: hit.account };
    const reckoned = this.resets.reckon(hit);
    hit = { ...hit, resetsAt: reckoned.resetsAt, resetFrom: reckoned.from, detail: reckoned.detail };
    this.d.ledger.markExhausted(hit.account, reckoned.until, `${hit.source}: ${clip(hit.text)}`);
    this.lastHit.set(hit.account, hit);
    if (hit.account !== this.d.ledger.active()) {
      // A late hit from a session still on an old account: that account is out, but the active one is not.
      this.note(hit, "suppressed", "not-active", `active account is ${this.d.ledger.active() ?? "none"}`);
      return [];
    }
    return this.decide(hit);
  }

  /** What the ledger calls for now; `hit` is the sighting that led here (null from tick). */
  private decide(hit: Hit | null): QuotaDecision[] {
    const active = this.d.ledger.active();
    if (active === null) return [];
    if (this.d.ledger.isAvailable(active)) {
      if (!this.allOut) return [];
      this.allOut = false;
      const back: Hit = { account: active, session: null, source: "ledger", text: `${active} reset`, resetsAt: null };
      return this.emit({ kind: "resume", account: active }, back);
    }
    const last = this.lastHit.get(active);
    const status = this.d.ledger.status(active);
    const trigger: Hit = hit ?? { account: active, session: null, source: "ledger", text: last?.text ?? `${active} is ${status}`, resetsAt: last?.resetsAt ?? null };
    const to = this.d.ledger.nextAccount();
    if (to === null) {
      // Not held back by the cooldown: stopping dispatch and telling the operator cannot wait.
      if (this.allOut) {
        if (hit !== null) this.note(hit, "suppressed", "all-exhausted");
        return [];
      }
      this.allOut = true;
      return this.emit({ kind: "exhausted", account: active, resetsAt: this.d.ledger.earliestReset() }, trigger);
    }
    const now = this.d.clock.now();
    const wait = this.cooldownLeft(now);
    if (wait > 0) {
      // Without a cooldown, banners still on screen after a swap would swap accounts back and forth.
      if (hit !== null) this.note(hit, "suppressed", "cooldown", `${Math.ceil(wait / 1000)} s of reactivate_cooldown left`);
      return [];
    }
    this.lastDecisionAt = now;
    this.allOut = false;
    const where = trigger.session === null ? "" : ` in ${trigger.session}`;
    const reason = trigger.source === "ledger" ? `${active} is ${status}; ${to} is available` : trigger.source === "usage-api"
      ? `usage on ${active} at ${trigger.text} (≥ ${this.d.settings.usageThreshold}%)`
      : `usage limit on ${active} (${trigger.source}${where})`;
    return this.emit(
      { kind: "swap", from: active, to, reason, source: trigger.source, session: trigger.session, matchedText: clip(trigger.text), resetsAt: trigger.resetsAt },
      trigger,
    );
  }

  private emit(decision: QuotaDecision, trigger: Hit): QuotaDecision[] {
    const rec: QuotaDecisionEvent = {
      type: "quota_decision", at: this.d.clock.now(), outcome: decision.kind, account: trigger.account, session: trigger.session,
      source: trigger.source, matchedText: clip(trigger.text), resetsAt: decision.kind === "exhausted" ? decision.resetsAt : trigger.resetsAt,
      ...(decision.kind === "swap" ? { to: decision.to, detail: decision.reason } : trigger.detail !== undefined ? { detail: trigger.detail } : {}),
      ...(trigger.resetFrom !== undefined ? { resetFrom: trigger.resetFrom } : {}),
    };
    this.d.record(rec);
    this.d.log.info({ ...rec, type: undefined }, `quota decision: ${decision.kind}`);
    return [decision];
  }

  private note(hit: Hit, outcome: "pending" | "suppressed", why: SuppressReason, detail?: string): void {
    const rec: QuotaDecisionEvent = {
      type: "quota_decision", at: this.d.clock.now(), outcome, why, account: hit.account, session: hit.session,
      source: hit.source, matchedText: clip(hit.text), resetsAt: hit.resetsAt, ...(detail === undefined ? {} : { detail }),
      ...(hit.resetFrom !== undefined ? { resetFrom: hit.resetFrom } : {}),
    };
    this.d.record(rec);
    this.d.log.info({ ...rec, type: undefined }, `quota sighting ${outcome}: ${why}`);
  }

  private cooldownLeft(now: number): number {
    const last = Math.max(this.lastDecisionAt ?? -Infinity, this.d.lastSwapAt?.() ?? -Infinity);
    return last === -Infinity ? 0 : last + this.d.settings.reactivateCooldownMs - now;
  }

  /** New work in the session ends the episode; a spinner right after the hit may be that turn's last frame. */
  private workSeen(s: SessionQuota, certain: boolean): void {
    const now = this.d.clock.now();
    if (!certain && s.episode !== null && now - s.episode.at < (this.d.settings.episodeGraceMs ?? 30_000)) return;
    s.episode = null;
    s.suspect = null;
    s.replaying = false;
    s.historyNoted = false;
    s.workSeenAt = now;
  }

  /**
   * The state of `name`, for the agent `agent` (its claude session id) when the caller knows it.
   * Another agent in the same session (the next task's fresh one) starts afresh: what was noted (a
   * replay, an open episode, a suspect) was about the previous agent and would hide the new one's limit.
   */
  private session(name: string, agent?: string): SessionQuota {
    let s = this.sessions.get(name);
    if (s !== undefined && agent !== undefined && s.agent !== null && s.agent !== agent) {
      this.sessions.delete(name);
      s = undefined;
    }
    if (s === undefined) {
      s = { suspect: null, episode: null, replaying: false, historyNoted: false, workSeenAt: null, agent: agent ?? null };
      if (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    } else {
      this.sessions.delete(name);
      if (agent !== undefined) s.agent = agent;
    }
    // Re-inserted so the Map's order is least recently used first.
    this.sessions.set(name, s);
    return s;
  }

  private resetIn(text: string): number | null {
    const at = parseResetTime(text, { now: this.d.clock.now(), ...(this.d.settings.hostZone ? { hostZone: this.d.settings.hostZone } : {}) });
    // The printed minute may have begun already: the reckoner takes it to its end (or finds it past).
    return at;
  }
}

/** A rate_limit text the banner reader calls a warning or an error: `isUsageLimitError` alone would let it through. */
function vetoed(text: string): boolean {
  const first = text.trim().split("\n")[0] ?? "";
  const banner = classifyBanner(first);
  return banner !== null && banner.type !== "limit";
}

function clip(text: string): string {
  return text.replace(/\s+/g, " ").trim().slice(0, TEXT_MAX);
}
