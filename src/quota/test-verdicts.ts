/**
 * Test support for the quota monitor and the resume planner: screen verdicts from the real captures (classified
 * by the real classifier), hook events and synthetic variants.
 */
import type { HookEvent } from "../claude/hooks.js";
import { classifyScreen, type LimitMenu, type ScreenVerdict } from "../claude/screen.js";
import { FIXTURE_NOW, readFixture } from "../claude/test-screens.js";

/** The clock the fixtures' reset times are in the future of. */
export const NOW = FIXTURE_NOW;

const BANNER_30 = "You've hit your session limit · resets 12:57am (UTC)";

export function screenOf(fixture: string, replace?: string): ScreenVerdict {
  let capture = readFixture(fixture);
  if (replace !== undefined) capture = capture.replace(BANNER_30, replace);
  return classifyScreen(capture, { now: NOW, hostZone: "UTC" });
}

export const screens = {
  /** 30: "You've hit your session limit · resets 12:57am (UTC)" above the idle box. */
  limitWithReset: () => screenOf("30-oauth-usage-limit-5h.txt"),
  /** 32: the limit menu, "1. Stop and wait for limit to reset". */
  limitMenu: () => screenOf("32-oauth-pro-usage-limit-7d.txt"),
  /** The 1.0.x banner, which names no reset on screen. */
  limitNoReset: () => screenOf("30-oauth-usage-limit-5h.txt", "Claude usage limit reached."),
  /** 91 % warning: work goes on. */
  warning: () => screenOf("30-oauth-usage-limit-5h.txt", "You've used 91% of your session limit · resets 8:40pm (Europe/Berlin)"),
  error500: () => screenOf("26-500-final.txt"),
  overloaded: () => screenOf("28-529-retrying.txt"),
  rejected429: () => screenOf("25-429-final.txt"),
  idle: () => screenOf("07-reply-done.txt"),
  busy: () => screenOf("06-busy-spinner.txt"),
};

export function stopFailure(text: string, error: "rate_limit" | "server_error" = "rate_limit", sessionId = "0b6f8a52-5f4e-4a43-9a53-7d7d1c1b2e01"): HookEvent {
  return { kind: "StopFailure", sessionId, error, lastAssistantMessage: text };
}

export function hookOf(kind: "UserPromptSubmit" | "Stop", sessionId = "0b6f8a52-5f4e-4a43-9a53-7d7d1c1b2e01"): HookEvent {
  return kind === "Stop" ? { kind, sessionId, stopHookActive: false } : { kind, sessionId, prompt: "continue" };
}

export function menuVerdict(menu: LimitMenu): ScreenVerdict {
  return { state: "limit", detail: "limit-menu", limit: { kind: "usage", resetsAt: null, text: "What do you want to do?", menu } };
}
