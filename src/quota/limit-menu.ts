/**
 * When every account is out (U5): which key answers the limit menu, when to wake up, and what to do in each
 * session once an account is back. Pure: the daemon captures the screens and sends the keys.
 */
import type { LimitMenu, ScreenVerdict } from "../claude/screen.js";
import { isKey, type Key } from "../tmux/client.js";

const WAIT_LABEL = /^Stop and wait\b/i;

/** The menu's "Stop and wait for limit to reset" option; null when it has none. */
function waitOptionOf(menu: LimitMenu): { number: number; label: string } | null {
  const byNumber = menu.waitOption === null ? undefined : menu.options.find((o) => o.number === menu.waitOption);
  // The classifier's choice is re-checked against the label: a key pressed on a misread menu could buy extra usage.
  return (byNumber !== undefined && WAIT_LABEL.test(byNumber.label) ? byNumber : menu.options.find((o) => WAIT_LABEL.test(o.label))) ?? null;
}

/**
 * The key that picks "Stop and wait for limit to reset", as the menu numbers it; null when the menu has no such
 * option, or numbers it so that no single key picks it ("0", "10"…: typed digit by digit, "1" would pick option 1),
 * and then nothing may be pressed. The option order differs between versions, so a bare Enter could pick
 * "Upgrade your plan" or "Switch to extra usage": it is never the answer.
 */
export function limitMenuKey(menu: LimitMenu | null): Key | null {
  const option = menu === null ? null : waitOptionOf(menu);
  if (option === null) return null;
  const key = String(option.number);
  return isKey(key) ? key : null;
}

/** What the planner needs from the account ledger (AccountLedger fits); reads already count a passed reset. */
export interface ResumeLedgerPort {
  active(): string | null;
  isAvailable(name: string): boolean;
  nextAccount(): string | null;
}

export interface ResumeSession {
  session: string;
  verdict: ScreenVerdict;
  /** The account its agent runs on. */
  account: string;
  /** Work was cut short here: a pool task in flight. */
  interrupted: boolean;
}

export type SessionAction =
  | { session: string; do: "press"; key: Key; why: string }
  | { session: string; do: "continue"; why: string }
  | { session: string; do: "nothing"; why: string };

export interface ResumePlan {
  /** wait: still every account out; continue: the active account is back; swap: another account is back first. */
  mode: "wait" | "continue" | "swap";
  /** continue: the active account; swap: the account to swap to (the switcher resumes the work there). */
  account: string | null;
  actions: SessionAction[];
}

export interface PlanResumeInput {
  ledger: ResumeLedgerPort;
  sessions: readonly ResumeSession[];
}

/** The next step while waiting out the limits. Call it each poll and act on `actions` (the ledger's reset times include the grace). */
export function planResume(input: PlanResumeInput): ResumePlan {
  const { ledger } = input;
  const active = ledger.active();
  let mode: ResumePlan["mode"] = "wait";
  let account: string | null = null;
  if (active !== null && ledger.isAvailable(active)) {
    mode = "continue";
    account = active;
  } else {
    account = ledger.nextAccount();
    if (account !== null) mode = "swap";
  }
  return { mode, account, actions: input.sessions.map((s) => actionFor(s, mode, account)) };
}

function actionFor(s: ResumeSession, mode: ResumePlan["mode"], account: string | null): SessionAction {
  const { session, verdict } = s;
  if (verdict.state === "busy") return { session, do: "nothing", why: "working (Claude Code may have continued by itself)" };
  // An interrupted agent whose screen moved on from the banner (the menu answered, a cancelled auto-continue, an
  // idle prompt) still owes its turn: it gets the continuation too.
  const atLimit = verdict.state === "limit" && verdict.limit !== null;
  if (!atLimit && !(s.interrupted && (verdict.state === "idle" || verdict.state === "error"))) return { session, do: "nothing", why: `not at a limit (${verdict.state}/${verdict.detail})` };
  if (verdict.limit?.menu) {
    // Answered at once, whatever the mode: "Stop and wait" leaves the session at its prompt, in a known state.
    const key = limitMenuKey(verdict.limit.menu);
    if (key === null) {
      const shown = waitOptionOf(verdict.limit.menu);
      const what = shown === null ? "has no 'Stop and wait' option" : `numbers 'Stop and wait' ${shown.number}, which no single key picks`;
      return { session, do: "nothing", why: `the limit menu ${what}: left for the operator, no blind Enter` };
    }
    return { session, do: "press", key, why: "limit menu: Stop and wait for limit to reset" };
  }
  if (mode === "wait") return { session, do: "nothing", why: "every account is out: waiting for the earliest reset" };
  if (mode === "swap") return { session, do: "nothing", why: `the swap to ${account ?? "?"} resumes the work there` };
  if (!s.interrupted) return { session, do: "nothing", why: "no interrupted work here" };
  if (s.account !== account) return { session, do: "nothing", why: `its agent runs on ${s.account}, not on ${account ?? "?"}, which is back` };
  if (verdict.inputText !== undefined) return { session, do: "nothing", why: "text waits in the input box: someone is typing" };
  return { session, do: "continue", why: `${account ?? "?"} is back: continue the interrupted turn` };
}
