import type { HookEvent, StopFailureError } from "../claude/hooks.js";
import type { PromptSignals } from "./agent-driver.js";

interface SessionSignals {
  prompt?: number;
  stop?: { at: number; message: string | undefined };
  failure?: { at: number; error: StopFailureError; message: string | undefined };
  start?: number;
  end?: number;
  touched: number;
}

const MAX_SESSIONS = 2000;

/**
 * The latest hook signals per claude session id, as the work loop asks for them: "did a Stop come
 * after I submitted?". Bounded: the least recently touched sessions are forgotten past 2,000.
 */
export class HookHub implements PromptSignals {
  private readonly sessions = new Map<string, SessionSignals>();
  private readonly listeners = new Set<(event: HookEvent, at: number) => void>();

  record(event: HookEvent, at: number): void {
    const s = this.sessions.get(event.sessionId) ?? { touched: at };
    s.touched = at;
    switch (event.kind) {
      case "UserPromptSubmit":
        s.prompt = at;
        break;
      case "Stop":
        s.stop = { at, message: event.lastAssistantMessage };
        break;
      case "StopFailure":
        s.failure = { at, error: event.error, message: event.lastAssistantMessage };
        break;
      case "SessionStart":
        s.start = at;
        break;
      case "SessionEnd":
        s.end = at;
        break;
      default:
        break;
    }
    this.sessions.delete(event.sessionId);
    this.sessions.set(event.sessionId, s);
    if (this.sessions.size > MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    for (const l of this.listeners) l(event, at);
  }

  /** Calls `fn` for every recorded event; returns the unsubscribe function. */
  subscribe(fn: (event: HookEvent, at: number) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  promptSeen(claudeSessionId: string, since: number): boolean {
    const s = this.sessions.get(claudeSessionId);
    if (!s) return false;
    return [s.prompt, s.stop?.at, s.failure?.at].some((t) => t !== undefined && t >= since);
  }

  sessionStarted(claudeSessionId: string, since: number): boolean {
    const start = this.sessions.get(claudeSessionId)?.start;
    return start !== undefined && start >= since;
  }

  stopSince(claudeSessionId: string, since: number): { at: number; message: string | undefined } | undefined {
    const stop = this.sessions.get(claudeSessionId)?.stop;
    return stop && stop.at >= since ? stop : undefined;
  }

  failureSince(claudeSessionId: string, since: number): { at: number; error: StopFailureError; message: string | undefined } | undefined {
    const f = this.sessions.get(claudeSessionId)?.failure;
    return f && f.at >= since ? f : undefined;
  }
}
