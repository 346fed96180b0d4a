import { AppError } from "../lib/errors.js";

/** One tmux session as `list-sessions` reports it. */
export interface SessionInfo {
  name: string;
  /** Unix seconds. */
  created: number;
  attached: boolean;
}

/** What the first pane of a session is running and showing. */
export interface PaneInfo {
  title: string;
  currentCommand: string;
  pid: number;
  dead: boolean;
  /** The working directory of the pane's foreground process (tmux pane_current_path), when known. */
  currentPath?: string;
}

export interface NewSessionOptions {
  name: string;
  cwd: string;
  width?: number;
  height?: number;
  /** argv of the program the pane runs; the default shell when absent. */
  command?: readonly string[];
  /** Extra environment for the session (tmux `-e NAME=VALUE`, tmux ≥ 3.2). */
  env?: Readonly<Record<string, string>>;
}

/** Keys `sendKey` may send: a closed list, so task text can never be read as a key name. */
export const KEYS = ["Enter", "Escape", "C-c", "C-u", "BSpace", "Up", "Down", "Tab", "1", "2", "3", "4", "5", "6", "7", "8", "9"] as const;
export type Key = (typeof KEYS)[number];
export const isKey = (key: string): key is Key => (KEYS as readonly string[]).includes(key);

/**
 * The small seam through which the daemon drives tmux. Every target is a session name and is
 * addressed exactly (`=name`), so `ccl-auto-1` never matches `ccl-auto-11`.
 */
export interface TmuxClient {
  hasSession(name: string, signal?: AbortSignal): Promise<boolean>;
  newSession(options: NewSessionOptions, signal?: AbortSignal): Promise<void>;
  /** Kills the session; a session that is already gone is not an error. */
  killSession(name: string, signal?: AbortSignal): Promise<void>;
  /** Every session on the server; an empty list when no server runs. */
  listSessions(signal?: AbortSignal): Promise<SessionInfo[]>;
  /** Types text literally (`send-keys -l`): never interpreted as key names. */
  sendText(name: string, text: string, signal?: AbortSignal): Promise<void>;
  sendKey(name: string, key: Key, signal?: AbortSignal): Promise<void>;
  /** Loads text into a named buffer and pastes it, bracketed, then deletes the buffer. */
  paste(name: string, text: string, signal?: AbortSignal): Promise<void>;
  /** The visible pane joined (`-J`), optionally with `history` lines of scrollback and escape codes. */
  capturePane(name: string, options?: { history?: number; ansi?: boolean }, signal?: AbortSignal): Promise<string>;
  paneInfo(name: string, signal?: AbortSignal): Promise<PaneInfo>;
  /**
   * Removes these variables from the server's global environment (`set-environment -g -u`), which new
   * panes inherit; returns the names that were there. No server running: nothing to remove.
   */
  unsetGlobalEnv(names: readonly string[], signal?: AbortSignal): Promise<string[]>;
}

/** A tmux command failed: carries what was run and what it said. */
export class TmuxError extends AppError {
  readonly argv: readonly string[];
  readonly exitCode: number | null;
  readonly stderr: string;
  constructor(
    code: "TMUX_FAILED" | "TMUX_TIMEOUT" | "TMUX_NOT_FOUND" | "TMUX_NO_SESSION" | "TMUX_BAD_NAME",
    message: string,
    details: { argv: readonly string[]; exitCode?: number | null; stderr?: string; cause?: unknown },
  ) {
    super(code, message, { cause: details.cause });
    this.argv = details.argv;
    this.exitCode = details.exitCode ?? null;
    this.stderr = details.stderr ?? "";
  }
}

/**
 * tmux rewrites `.` and `:` in session names to `_`, so a name with a dot would never be found again
 * under the name it was created with; session names are therefore `[A-Za-z0-9_-]`, at most 64 chars.
 */
export const SESSION_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export function assertSessionName(name: string): void {
  if (!SESSION_NAME.test(name)) {
    throw new TmuxError("TMUX_BAD_NAME", `invalid tmux session name ${JSON.stringify(name)}: expected 1–64 characters of [A-Za-z0-9_-]`, { argv: [] });
  }
}

/** Exact target of a session / of its active pane. */
export const sessionTarget = (name: string): string => `=${name}`;
export const paneTarget = (name: string): string => `=${name}:`;
