import type { LaunchCommand } from "../claude/launch.js";
import { AgentError } from "../dispatch/errors.js";
import { describeError } from "../lib/errors.js";
import type { Logger } from "../lib/logger.js";
import { isShell } from "../tmux/shells.js";
import type { AccountsPort, AgentPort, PanePort } from "./ports.js";

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

export interface DedicatedSessionsDeps {
  /** pool.dedicated: each session and the cwd it was configured with. */
  sessions: readonly { name: string; cwd: string }[];
  /** Where an agent runs when neither its process nor the config says (the pool's cwd). */
  defaultCwd: string;
  agent: AgentPort;
  panes: PanePort;
  accounts: AccountsPort;
  log: Logger;
  /** Told when an agent was brought back with `--resume`: its replayed history is not a new sighting. */
  onResumed(session: string, claudeSessionId: string): void;
}

/** The operator's dedicated sessions across a swap: which agent runs in each, and bringing it back on the new home. */
export class DedicatedSessions {
  private readonly cwds = new Map<string, string>();

  constructor(private readonly d: DedicatedSessionsDeps) {}

  /** Every dedicated session with the claude session id of its agent (null: none, or it cannot be read). */
  capture(): Promise<{ session: string; uuid: string | null }[]> {
    return Promise.all(this.d.sessions.map(async (x) => ({ session: x.name, uuid: await this.sessionId(x.name) })));
  }

  /** Brings a dedicated session's agent back on `home` under its id (null: nothing to bring back). */
  async relaunch(session: string, home: string, uuid: string | null): Promise<void> {
    if (uuid === null) return;
    const { d } = this;
    const account = d.accounts.byHome(home);
    const cwd = this.cwds.get(session) ?? d.sessions.find((x) => x.name === session)?.cwd ?? d.defaultCwd;
    await bringBackDedicated({
      session, claudeSessionId: uuid, log: d.log,
      exit: () => d.agent.exit(session),
      launch: (command) => d.agent.launch(session, cwd, command),
      launchLine: (resume) => d.agent.launchLine(account, uuid, cwd, resume),
      // Transcripts are shared: the target home sees the conversation the agent had on the other.
      hasTranscript: () => d.agent.hasTranscript(home, cwd, uuid),
      capture: () => d.panes.capturePane(session),
    });
    d.onResumed(session, uuid);
  }

  /**
   * The claude session id of the agent in a dedicated session, from Claude Code's own
   * `<config dir>/sessions/<pid>.json`; null when no agent runs there or its id cannot be read: the
   * session is then left as it is, never relaunched blind.
   */
  private async sessionId(session: string): Promise<string | null> {
    try {
      const pane = await this.d.panes.paneInfo(session);
      const found = await this.d.agent.runningSession(pane.pid);
      // --resume only finds the transcript from the same cwd: remember where the agent ran.
      if (found?.cwd) this.cwds.set(session, found.cwd);
      if (!found && !isShell(pane.currentCommand)) {
        this.d.log.warn({ session, command: pane.currentCommand }, "no claude session id found for what runs in this dedicated session: it is left as it is, on its account");
      }
      return found?.sessionId ?? null;
    } catch (err) {
      this.d.log.warn({ session, err: describeError(err) }, "dedicated session not inspected: it is left as it is");
      return null;
    }
  }
}
