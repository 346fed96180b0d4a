import type { LaunchCommand } from "../claude/launch.js";
import { AgentError } from "../dispatch/agent-driver.js";
import { describeError } from "../lib/errors.js";
import type { Logger } from "../lib/logger.js";

/** How many times a dedicated agent is started before the swap warns and leaves it. */
export const DEDICATED_TRIES = 2;

export interface BringBackDeps {
  session: string;
  claudeSessionId: string;
  /** Ends whatever agent holds the session (the driver's exit). */
  exit(): Promise<void>;
  /** Starts the agent and resolves once it is at its prompt (the driver's launch). */
  launch(command: LaunchCommand): Promise<void>;
  /** The launch line: `--resume <id>` when `resume`, else `--session-id <id>`. */
  launchLine(resume: boolean): Promise<LaunchCommand>;
  /** Whether the session has a transcript (a conversation to resume). */
  hasTranscript(): Promise<boolean>;
  /** The session's screen, for the log when a try fails. */
  capture(): Promise<string>;
  log: Logger;
}

/**
 * Brings an operator's dedicated agent back under its claude session id (after a swap): ends it,
 * then starts it again with `--resume`, or, when it has no conversation yet, as a new session under
 * the same id (Claude Code writes a transcript with the first message; `--resume` without one ends at
 * "No conversation found"). A start that fails — an exit that hangs, a screen the driver does not
 * take for the prompt in time — is tried once more from the exit: an operator's session left at the
 * shell is worse than a second try. Anything but an agent failure is not retried. Resolves to
 * whether the conversation was resumed.
 */
export async function bringBackDedicated(d: BringBackDeps): Promise<{ resumed: boolean; tries: number }> {
  for (let tries = 1; ; tries++) {
    try {
      await d.exit();
      // Looked at on every try: a first try may have got as far as writing one.
      const resumed = await d.hasTranscript();
      if (!resumed) d.log.info({ session: d.session, claude_session_id: d.claudeSessionId, try: tries }, "the dedicated agent had no conversation yet: relaunched fresh under the same session id");
      await d.launch(await d.launchLine(resumed));
      return { resumed, tries };
    } catch (err) {
      if (tries >= DEDICATED_TRIES || !(err instanceof AgentError)) throw err;
      const screen = await d.capture().then((c) => c.split("\n").filter((l) => l.trim() !== "").slice(-12).join("\n"), () => "");
      d.log.warn({ session: d.session, err: describeError(err), screen }, "the dedicated agent did not come back: trying once more");
    }
  }
}
