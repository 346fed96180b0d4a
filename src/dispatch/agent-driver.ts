import type { LaunchCommand } from "../claude/launch.js";
import { typedLaunchLine } from "../claude/launch-env.js";
import { sanitizePrompt } from "../claude/prompt-text.js";
import type { ScreenVerdict } from "../claude/screen.js";
import { dialogKey, type DialogDetail } from "../claude/screen-dialogs.js";
import type { Clock } from "../lib/clock.js";
import { crashPoint } from "../lib/crash-points.js";
import type { Logger } from "../lib/logger.js";
import { shellQuote } from "../lib/shell-quote.js";
import { isKey, type TmuxClient } from "../tmux/client.js";
import { isShell } from "../tmux/shells.js";
import { AgentError } from "./errors.js";

/** Signals of acceptance the daemon hears from hooks, for one claude session id. */
export interface PromptSignals {
  /** True once UserPromptSubmit (or a later Stop/StopFailure) arrived after `since` for `claudeSessionId`. */
  promptSeen(claudeSessionId: string, since: number): boolean;
  /** True once SessionStart arrived after `since` for `claudeSessionId`. */
  sessionStarted(claudeSessionId: string, since: number): boolean;
}

export interface AgentDriverDeps {
  tmux: TmuxClient;
  clock: Clock;
  log: Logger;
  classify: (capture: string) => ScreenVerdict;
  signals: PromptSignals;
  /** Screen polling while waiting for a state; default 150 ms. */
  pollMs?: number;
  /** Longest wait for the agent to reach its prompt; default 60 s. */
  startTimeoutMs?: number;
  /** Longest wait for a submitted prompt to be accepted, per Enter; default 4 s. */
  acceptTimeoutMs?: number;
  /** Where a launch's private environment is written for the shell to read (never typed). */
  envFiles?: EnvFileWriter;
}

/** Writes a launch's private environment to a file the launch line runs (see launch-env.ts). */
export interface EnvFileWriter {
  write(env: Readonly<Record<string, string>>): Promise<string>;
  remove(file: string): Promise<void>;
}

/** How long an answered dialog may stay on screen before it is answered again. */
const DIALOG_REDRAW_MS = 1_500;

/** Without a SessionStart hook, how long the agent must hold the terminal at its prompt to count as started. */
const UNHOOKED_START_MS = 3_000;
/** ...and on how many polls in a row its prompt must show: one frame may be the previous agent's. */
const UNHOOKED_IDLE_POLLS = 2;

/** Longest wait for the agent to reach its prompt unless configured (`startTimeoutMs`). */
const DEFAULT_START_TIMEOUT_MS = 60_000;

/** How long a previous agent's exit may still hold the terminal before a launch treats it as left behind. */
const SHELL_WAIT_MS = 3_000;

/** How long a left-behind agent, once told to exit, has to give the terminal back to the shell. */
const LEFTOVER_EXIT_MS = 10_000;

/** A shell still in the foreground this long after the launch line never read it: it is typed once more. */
const RETYPE_AFTER_MS = 10_000;

/** First-run dialogs answered in one start-up at most: more is a dialog that keeps coming back, not a first run. */
const MAX_DIALOG_ANSWERS = 8;

/** How long a pasted prompt may take to show in the input box before Enter is pressed anyway. */
const PASTE_SHOWN_MS = 2_000;
/** How long a submitted prompt may take to be taken (busy, hook, box emptied) unless configured (`acceptTimeoutMs`). */
const DEFAULT_ACCEPT_TIMEOUT_MS = 4_000;
/** Enters sent for one prompt at most: a text still in the box after this many is not going to be taken. */
const MAX_ENTERS = 3;
/** How long `/exit` after a turn has to give the terminal back before Ctrl-C takes over. */
const SLASH_EXIT_MS = 5_000;
/** Longest an exit by Ctrl-C presses may take. */
const CTRL_C_EXIT_MS = 15_000;
/** How long after a press its frame may take to show before the next press. */
const PRESS_SHOWN_MS = 2_000;
/** How long an agent on its way out (it printed its resume line) has to end. */
const LEAVING_MS = 10_000;

/** The footer while Claude Code waits for the second Ctrl-C of an exit (CLAUDE-CODE.md §screens). */
export const EXIT_ARMED = /Press Ctrl[-+]C again to exit/i;

/** What a launch has seen of the session so far, poll by poll. */
interface StartWatch {
  /** The agent has shown itself: it held the terminal, or drew its own screen. */
  sawAgent: boolean;
  /** When something other than a shell first held the terminal. */
  agentSince?: number;
  /** The launch line was typed a second time (once at most). */
  retyped: boolean;
  /** Polls in a row that showed the agent at its prompt. */
  idleStreak: number;
  /** Dialogs answered, and the last one with when. */
  answered: number;
  lastAnswer?: { detail: string; at: number };
}

/** The claude session id the launch line names (`--session-id` or `--resume`), if any. */
function sessionIdOf(launch: LaunchCommand): string | undefined {
  const idFlag = launch.argv.findIndex((a) => a === "--session-id" || a === "--resume");
  return idFlag >= 0 ? launch.argv[idFlag + 1] : undefined;
}

/**
 * Drives Claude Code inside one pool session: launch it at the shell, hand it a prompt and confirm it
 * was taken, end it. Every wait polls the screen (and hooks) against a deadline — no fixed sleep stands
 * in for a condition.
 */
export class AgentDriver {
  private readonly pollMs: number;

  constructor(private readonly d: AgentDriverDeps) {
    this.pollMs = d.pollMs ?? 150;
  }

  /**
   * The screen's verdict, corrected by what the pane runs: with a shell in the foreground Claude Code
   * is gone whatever the screen still shows (operators' prompts are too varied to recognise them all).
   */
  async screen(session: string, signal?: AbortSignal): Promise<ScreenVerdict> {
    return (await this.look(session, signal)).verdict;
  }

  /** The capture and its verdict. */
  async look(session: string, signal?: AbortSignal): Promise<{ capture: string; verdict: ScreenVerdict }> {
    const { capture, verdict } = await this.lookWithForeground(session, signal);
    return { capture, verdict };
  }

  private async lookWithForeground(session: string, signal?: AbortSignal): Promise<{ capture: string; verdict: ScreenVerdict; foreground: string }> {
    const [capture, pane] = await Promise.all([this.d.tmux.capturePane(session, {}, signal), this.d.tmux.paneInfo(session, signal)]);
    const v = this.d.classify(capture);
    const foreground = pane.currentCommand;
    if (v.state !== "shell" && isShell(foreground)) return { capture, verdict: { state: "shell", detail: "shell-foreground", limit: v.limit }, foreground };
    // The exit message of an earlier agent can still be on screen while the new one runs.
    if (v.state === "shell" && !isShell(foreground) && foreground !== "") return { capture, verdict: { state: "unknown", detail: "agent-starting", limit: null }, foreground };
    return { capture, verdict: v, foreground };
  }

  /** Waits until a shell is the pane's foreground process (the agent has really gone). */
  private async waitForShell(session: string, ms: number, signal?: AbortSignal): Promise<boolean> {
    const deadline = this.d.clock.now() + ms;
    for (;;) {
      const pane = await this.d.tmux.paneInfo(session, signal);
      if (isShell(pane.currentCommand)) return true;
      if (this.d.clock.now() > deadline) return false;
      await this.d.clock.sleep(this.pollMs, signal);
    }
  }

  /**
   * Types `cd <cwd> && <launch line>` at the session's shell and waits for the idle prompt, answering
   * first-run dialogs should they appear anyway (the account home is prepared so they should not).
   */
  async launch(session: string, cwd: string, launch: LaunchCommand, signal?: AbortSignal): Promise<void> {
    const privateEnv = launch.privateEnv ?? {};
    const envFiles = this.d.envFiles;
    if (Object.keys(privateEnv).length > 0 && envFiles === undefined) {
      throw new AgentError("AGENT_START_FAILED", `${session}: the agent's environment has no private file to go through; it is never typed`, session);
    }
    // Keys typed while a previous agent is still exiting are read (and lost) by that agent: wait
    // until the shell holds the terminal.
    if (!(await this.waitForShell(session, SHELL_WAIT_MS, signal))) {
      // An agent left behind (a crash between a task's end and its recycle): end it first.
      this.d.log.warn({ session }, "an agent still holds the session: exiting it before the launch");
      // Not this launch's agent failing but the session not clean: the caller owes the task no attempt.
      try {
        await this.exit(session, signal);
      } catch (err) {
        if (!(err instanceof AgentError)) throw err;
        throw new AgentError("AGENT_LEFT_BEHIND", `${session}: an earlier agent holds the session and would not exit (${err.message}); not typing the launch line`, session);
      }
      if (!(await this.waitForShell(session, LEFTOVER_EXIT_MS, signal))) {
        throw new AgentError("AGENT_LEFT_BEHIND", `${session}: something other than a shell holds the terminal; not typing the launch line`, session);
      }
    }
    // Every env file written for this launch is removed when it ends, whether the shell ran it (it
    // deletes itself) or never did.
    const written: string[] = [];
    try {
      await this.launchTyped(session, cwd, launch, async () => {
        if (envFiles === undefined || Object.keys(privateEnv).length === 0) return undefined;
        const file = await envFiles.write(privateEnv);
        written.push(file);
        return file;
      }, signal);
    } finally {
      for (const file of written) await envFiles?.remove(file);
    }
  }

  private async launchTyped(session: string, cwd: string, launch: LaunchCommand, envFile: () => Promise<string | undefined>, signal?: AbortSignal): Promise<void> {
    const type = async (): Promise<void> => {
      // Only our own values reach this line (paths, a uuid, config, the env file's path): never task
      // text, never a secret.
      const line = `cd ${shellQuote(cwd)} && ${typedLaunchLine(launch, await envFile())}`;
      await this.d.tmux.sendKey(session, "C-u", signal);
      await this.d.tmux.sendText(session, line, signal);
      await this.d.tmux.sendKey(session, "Enter", signal);
    };
    await type();
    const started = this.d.clock.now();
    const claudeId = sessionIdOf(launch);
    const startTimeoutMs = this.d.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    const deadline = started + startTimeoutMs;
    const watch: StartWatch = { sawAgent: false, retyped: false, idleStreak: 0, answered: 0 };
    for (;;) {
      await this.d.clock.sleep(this.pollMs, signal);
      const { verdict: v, foreground, capture } = await this.lookWithForeground(session, signal);
      if (!watch.sawAgent && !watch.retyped && isShell(foreground) && this.d.clock.now() - started > RETYPE_AFTER_MS) {
        watch.retyped = true;
        this.d.log.warn({ session }, "launch line not taken by the shell: typing it again");
        await type();
        continue;
      }
      if (!isShell(foreground)) {
        watch.sawAgent = true;
        watch.agentSince ??= this.d.clock.now();
      }
      if (this.reachedPrompt(watch, v, foreground, claudeId, started)) return;
      await this.answerStartScreen(session, v, capture, watch, signal);
      if (this.d.clock.now() > deadline) {
        throw new AgentError("AGENT_START_TIMEOUT", `${session}: Claude Code did not reach its prompt within ${startTimeoutMs} ms (screen: ${v.state}/${v.detail})`, session, v);
      }
    }
  }

  /**
   * The previous agent's last frame (an empty prompt) stays on screen while the new one starts, and
   * stays there when the new one fails early ("No conversation found", a bad flag) and the shell comes
   * back within a second. So an idle screen is trusted once SessionStart came; without the hook (it may
   * be slow or lost), once the agent has held the terminal for UNHOOKED_START_MS.
   */
  private reachedPrompt(watch: StartWatch, v: ScreenVerdict, foreground: string, claudeId: string | undefined, started: number): boolean {
    // A resumed session replays its history: when the last turn ended on a limit or an error, the
    // agent is at its prompt all the same (the limit menu, though, still holds the keyboard).
    const atPrompt = !v.inputText && (v.state === "idle" || (watch.sawAgent && (v.state === "error" || (v.state === "limit" && v.detail !== "limit-menu"))));
    watch.idleStreak = atPrompt ? watch.idleStreak + 1 : 0;
    if (!atPrompt) return false;
    if (claudeId !== undefined && this.d.signals.sessionStarted(claudeId, started)) return true;
    return watch.idleStreak >= UNHOOKED_IDLE_POLLS && watch.agentSince !== undefined && !isShell(foreground) && this.d.clock.now() - watch.agentSince >= UNHOOKED_START_MS;
  }

  /** Answers a first-run dialog on the start-up screen; throws when the agent exited or refused to start. */
  private async answerStartScreen(session: string, v: ScreenVerdict, capture: string, watch: StartWatch, signal?: AbortSignal): Promise<void> {
    if (v.state === "idle" || v.state === "busy") {
      watch.sawAgent = true;
      return;
    }
    if (v.state === "dialog") {
      watch.sawAgent = true;
      // Answered already; the dialog is still being taken down. A second key now would land in the
      // input box once it is gone (and the agent would never look idle).
      if (watch.lastAnswer?.detail === v.detail && this.d.clock.now() - watch.lastAnswer.at < DIALOG_REDRAW_MS) return;
      const key = dialogKey(v.detail as DialogDetail, capture);
      if (key === undefined || !isKey(key) || watch.answered >= MAX_DIALOG_ANSWERS) {
        throw new AgentError("AGENT_START_FAILED", `${session}: Claude Code stopped at a dialog the daemon does not answer (${v.detail})`, session, v);
      }
      watch.answered++;
      this.d.log.warn({ session, dialog: v.detail, key }, "answered a start-up dialog (prepare the account home to avoid it)");
      await this.d.tmux.sendKey(session, key, signal);
      watch.lastAnswer = { detail: v.detail, at: this.d.clock.now() };
      return;
    }
    if (v.state === "shell" && watch.sawAgent) {
      throw new AgentError("AGENT_START_FAILED", `${session}: Claude Code exited during start-up (${v.detail})`, session, v);
    }
    if (v.state === "shell" && (v.detail === "root-refused" || v.detail === "connectivity-check-failed")) {
      throw new AgentError("AGENT_START_FAILED", `${session}: Claude Code refused to start (${v.detail})`, session, v);
    }
  }

  /**
   * Pastes the prompt through a buffer (bracketed: text is never read as keys), submits it with a
   * separate Enter — an Enter in the same write as a paste is swallowed — and
   * confirms it was taken: the UserPromptSubmit hook, or a busy screen, or the input box emptied.
   * If the text still sits in the box, Enter is sent again (MAX_ENTERS in all).
   */
  async submit(session: string, prompt: string, claudeSessionId: string, signal?: AbortSignal): Promise<void> {
    const since = this.d.clock.now();
    // The caller has sanitised task text already (and noted it); this guards every other paste.
    await this.d.tmux.paste(session, sanitizePrompt(prompt).text, signal);
    crashPoint("after-paste");
    // Wait until the paste shows in the input box before pressing Enter: a big paste is still being
    // read by Claude Code for some milliseconds, and an Enter during that becomes a newline.
    const shown = this.d.clock.now() + PASTE_SHOWN_MS;
    let sawInput = false;
    for (;;) {
      const v = await this.screen(session, signal);
      sawInput = Boolean(v.inputText);
      if (sawInput || this.d.signals.promptSeen(claudeSessionId, since) || v.state === "busy") break;
      if (this.d.clock.now() > shown) break;
      await this.d.clock.sleep(this.pollMs / 3, signal);
    }
    for (let attempt = 1; attempt <= MAX_ENTERS; attempt++) {
      await this.d.tmux.sendKey(session, "Enter", signal);
      const deadline = this.d.clock.now() + (this.d.acceptTimeoutMs ?? DEFAULT_ACCEPT_TIMEOUT_MS);
      let v: ScreenVerdict | undefined;
      for (;;) {
        if (this.d.signals.promptSeen(claudeSessionId, since)) return;
        v = await this.screen(session, signal);
        if (v.state === "busy") return;
        // A turn that ended at once on a limit or an error took the prompt — unless the prompt still
        // sits in the box: a resumed session shows its last turn's banner before anything new.
        if ((v.state === "limit" || v.state === "error") && !v.inputText) return;
        if (v.state === "idle" && !v.inputText && sawInput) {
          // The text left the box and a reply came so quickly that no busy frame was captured.
          return;
        }
        if (this.d.clock.now() > deadline) break;
        await this.d.clock.sleep(this.pollMs, signal);
      }
      this.d.log.warn({ session, attempt, screen: v?.state, input: v?.inputText?.slice(0, 60) }, "prompt not accepted yet: sending Enter again");
    }
    throw new AgentError("PROMPT_NOT_ACCEPTED", `${session}: the prompt was not accepted after ${MAX_ENTERS} Enters`, session);
  }

  /**
   * Ends Claude Code and resolves once a shell holds the pane. Ctrl-C never submits anything: it
   * interrupts a turn, empties the input box, and on an empty box arms the exit the next press confirms.
   * `/exit` (~0.5 s against ~1.8 s for Ctrl-C after a turn) is typed only with `afterTurn`, when the box is
   * known empty: behind a paste not yet drawn, its Enter would submit both.
   */
  async exit(session: string, signal?: AbortSignal, options: { afterTurn?: boolean } = {}): Promise<void> {
    if (options.afterTurn && !isShell((await this.d.tmux.paneInfo(session, signal)).currentCommand)) {
      await this.d.tmux.sendText(session, "/exit", signal);
      await this.d.tmux.sendKey(session, "Enter", signal);
      if (await this.waitForShell(session, SLASH_EXIT_MS, signal)) return;
      this.d.log.warn({ session }, "/exit did not end the agent: Ctrl-C");
    }
    const deadline = this.d.clock.now() + CTRL_C_EXIT_MS;
    let presses = 0;
    let paired = false;
    for (;;) {
      const before = await this.lookWithForeground(session, signal);
      if (isShell(before.foreground)) return;
      if (this.d.clock.now() > deadline) break;
      await this.d.tmux.sendKey(session, "C-c", signal);
      presses++;
      // An idle agent with an empty box needs two presses (arm, confirm), sent back to back so the CLI's
      // double-press window cannot close between them under load. Once only, and not when already armed.
      const v = before.verdict;
      if (!paired && v.state === "idle" && !v.inputText && !EXIT_ARMED.test(before.capture)) {
        paired = true;
        await this.d.tmux.sendKey(session, "C-c", signal);
        presses++;
      }
      // Press again once this press shows (a new frame: the box emptied, "Press Ctrl-C again to
      // exit", the turn interrupted) — soon enough for the CLI's double-press window.
      const shown = this.d.clock.now() + PRESS_SHOWN_MS;
      // An exit message already on screen (an earlier agent's) says nothing about this one.
      const shellBefore = this.d.classify(before.capture).state === "shell";
      let leaving = false;
      for (;;) {
        await this.d.clock.sleep(this.pollMs, signal);
        if (isShell((await this.d.tmux.paneInfo(session, signal)).currentCommand)) return;
        const capture = await this.d.tmux.capturePane(session, {}, signal);
        // "Resume this session with …": it is on its way out (SessionEnd hooks, flushing). More
        // presses would only reach it as SIGINTs now that the terminal is back in cooked mode.
        leaving = !shellBefore && capture !== before.capture && this.d.classify(capture).state === "shell";
        if (leaving || this.d.clock.now() > shown || capture !== before.capture) break;
      }
      if (leaving) {
        if (await this.waitForShell(session, LEAVING_MS, signal)) return;
        break;
      }
    }
    throw new AgentError("AGENT_EXIT_TIMEOUT", `${session}: Claude Code did not exit after ${presses} Ctrl-C presses`, session);
  }
}
