import type { ScreenVerdict } from "../claude/screen.js";
import { AppError } from "../lib/errors.js";

/**
 * Driving Claude Code in one session failed. Codes: AGENT_START_TIMEOUT, AGENT_START_FAILED, PROMPT_NOT_ACCEPTED,
 * AGENT_EXIT_TIMEOUT, and AGENT_LEFT_BEHIND (a launch found an earlier agent in the session that would not leave).
 */
export class AgentError extends AppError {
  constructor(code: string, message: string, readonly session: string, readonly screen?: ScreenVerdict) {
    super(code, message);
  }
}
