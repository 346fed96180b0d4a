import { spawn } from "node:child_process";
import {
  assertSessionName, paneTarget, sessionTarget, TmuxError,
  type Key, type NewSessionOptions, type PaneInfo, type SessionInfo, type TmuxClient,
} from "./client.js";
import { isNotFound } from "../lib/errors.js";
import { KEYS } from "./client.js";
import { shellQuote } from "../lib/shell-quote.js";

export interface CliTmuxOptions {
  /** `-L` socket name; "" or undefined = the default server. */
  socket?: string;
  /** The tmux binary. */
  binary?: string;
  /** Per-command timeout. */
  timeoutMs?: number;
  /**
   * The environment tmux runs with (default: this process's). The command that starts the server
   * makes it tmux's global environment, which every pane inherits: the daemon passes its own minus secrets.
   */
  env?: NodeJS.ProcessEnv;
}

interface RunResult { stdout: string; stderr: string; exitCode: number }

// A server whose last session just closed exits: commands racing that exit see these.
const NO_SERVER = /no server running|error connecting to|No such file or directory|server exited unexpectedly|lost server/i;
// "no current target": what kill-session says on a server left with no session at all.
const NO_SESSION = /can't find (session|pane|window)|session not found|no current target|no sessions/i;
// A new-session that reached a server in the middle of exiting (its last session just closed) created nothing.
const SERVER_EXITING = /server exited unexpectedly|lost server/i;
const NEW_SESSION_TRIES = 3;

/** The real adapter: runs the tmux binary with an argv array (never a shell). */
export class CliTmuxClient implements TmuxClient {
  private readonly binary: string;
  private readonly prefix: string[];
  private readonly timeoutMs: number;
  private readonly env: NodeJS.ProcessEnv | undefined;
  private bufferSeq = 0;

  constructor(options: CliTmuxOptions = {}) {
    this.binary = options.binary ?? "tmux";
    this.prefix = options.socket ? ["-L", options.socket] : [];
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.env = options.env;
  }

  /** Runs one tmux command; rejects with a TmuxError on a non-zero exit, a timeout or a missing binary. */
  async run(args: readonly string[], options: { input?: string; signal?: AbortSignal; allowFailure?: boolean } = {}): Promise<RunResult> {
    const argv = [this.binary, ...this.prefix, ...args];
    const result = await new Promise<RunResult>((resolve, reject) => {
      const child = spawn(argv[0]!, argv.slice(1), { stdio: ["pipe", "pipe", "pipe"], signal: options.signal, env: this.env ?? process.env });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill("SIGKILL");
      }, this.timeoutMs);
      child.stdout.on("data", (b: Buffer) => out.push(b));
      child.stderr.on("data", (b: Buffer) => err.push(b));
      child.on("error", (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (isNotFound(e)) {
          reject(new TmuxError("TMUX_NOT_FOUND", `tmux binary not found: ${this.binary} (install tmux ≥ 3.2)`, { argv, cause: e }));
        } else if (e.name === "AbortError") {
          reject(e);
        } else {
          reject(new TmuxError("TMUX_FAILED", `tmux could not be run: ${e.message}`, { argv, cause: e }));
        }
      });
      child.on("close", (code) => {
        clearTimeout(timer);
        const stderr = Buffer.concat(err).toString("utf8").trim();
        if (timedOut) {
          reject(new TmuxError("TMUX_TIMEOUT", `tmux timed out after ${this.timeoutMs} ms: ${args.join(" ").slice(0, 200)}`, { argv, stderr }));
          return;
        }
        resolve({ stdout: Buffer.concat(out).toString("utf8"), stderr, exitCode: code ?? -1 });
      });
      child.stdin.on("error", () => undefined);
      child.stdin.end(options.input ?? "");
    });
    if (result.exitCode !== 0 && !options.allowFailure) throw this.failure(args, result);
    return result;
  }

  private failure(args: readonly string[], result: RunResult): TmuxError {
    const code = NO_SESSION.test(result.stderr) || NO_SERVER.test(result.stderr) ? "TMUX_NO_SESSION" : "TMUX_FAILED";
    return new TmuxError(code, `tmux ${args[0] ?? ""} failed (exit ${result.exitCode}): ${result.stderr || "no message"}`, {
      argv: [this.binary, ...this.prefix, ...args], exitCode: result.exitCode, stderr: result.stderr,
    });
  }

  async hasSession(name: string, signal?: AbortSignal): Promise<boolean> {
    assertSessionName(name);
    const r = await this.run(["has-session", "-t", sessionTarget(name)], { signal, allowFailure: true });
    if (r.exitCode === 0) return true;
    if (NO_SESSION.test(r.stderr) || NO_SERVER.test(r.stderr)) return false;
    throw new TmuxError("TMUX_FAILED", `tmux has-session failed: ${r.stderr}`, { argv: ["has-session", name], exitCode: r.exitCode, stderr: r.stderr });
  }

  async newSession(o: NewSessionOptions, signal?: AbortSignal): Promise<void> {
    assertSessionName(o.name);
    const args = ["new-session", "-d", "-s", o.name, "-c", o.cwd, "-x", String(o.width ?? 200), "-y", String(o.height ?? 50)];
    for (const [k, v] of Object.entries(o.env ?? {})) args.push("-e", `${k}=${v}`);
    // tmux hands a lone command argument to the shell, but execs several arguments as argv:
    // a one-word command is therefore quoted so it is still taken literally.
    if (o.command && o.command.length > 0) args.push(...(o.command.length === 1 ? [shellQuote(o.command[0]!)] : o.command));
    for (let attempt = 1; ; attempt++) {
      const r = await this.run(args, { signal, allowFailure: true });
      if (r.exitCode === 0) return;
      if (!SERVER_EXITING.test(r.stderr) || attempt === NEW_SESSION_TRIES) throw this.failure(args, r);
    }
  }

  async killSession(name: string, signal?: AbortSignal): Promise<void> {
    assertSessionName(name);
    const r = await this.run(["kill-session", "-t", sessionTarget(name)], { signal, allowFailure: true });
    if (r.exitCode !== 0 && !NO_SESSION.test(r.stderr) && !NO_SERVER.test(r.stderr)) {
      throw new TmuxError("TMUX_FAILED", `tmux kill-session failed: ${r.stderr}`, { argv: ["kill-session", name], exitCode: r.exitCode, stderr: r.stderr });
    }
  }

  async listSessions(signal?: AbortSignal): Promise<SessionInfo[]> {
    const r = await this.run(["list-sessions", "-F", "#{session_name}\t#{session_created}\t#{session_attached}"], { signal, allowFailure: true });
    if (r.exitCode !== 0) {
      if (NO_SERVER.test(r.stderr)) return [];
      throw new TmuxError("TMUX_FAILED", `tmux list-sessions failed: ${r.stderr}`, { argv: ["list-sessions"], exitCode: r.exitCode, stderr: r.stderr });
    }
    return r.stdout.split("\n").filter((l) => l.length > 0).map((line) => {
      const [name = "", created = "0", attached = "0"] = line.split("\t");
      return { name, created: Number(created), attached: Number(attached) > 0 };
    });
  }

  async sendText(name: string, text: string, signal?: AbortSignal): Promise<void> {
    assertSessionName(name);
    if (text.length === 0) return;
    // `--` ends options so text starting with "-" is still text.
    await this.run(["send-keys", "-t", paneTarget(name), "-l", "--", text], { signal });
  }

  async sendKey(name: string, key: Key, signal?: AbortSignal): Promise<void> {
    assertSessionName(name);
    if (!(KEYS as readonly string[]).includes(key)) throw new TmuxError("TMUX_BAD_NAME", `key not allowed: ${JSON.stringify(key)}`, { argv: [] });
    await this.run(["send-keys", "-t", paneTarget(name), key], { signal });
  }

  async paste(name: string, text: string, signal?: AbortSignal): Promise<void> {
    assertSessionName(name);
    const buffer = `cf-${process.pid}-${++this.bufferSeq}`;
    // Text goes through stdin, never argv: no length limit, no shell, no key parsing.
    await this.run(["load-buffer", "-b", buffer, "-"], { input: text, signal });
    await this.run(["paste-buffer", "-p", "-d", "-b", buffer, "-t", paneTarget(name)], { signal });
  }

  async capturePane(name: string, options: { history?: number; ansi?: boolean } = {}, signal?: AbortSignal): Promise<string> {
    assertSessionName(name);
    const args = ["capture-pane", "-p", "-J", "-t", paneTarget(name)];
    if (options.ansi) args.push("-e");
    if (options.history && options.history > 0) args.push("-S", String(-options.history));
    return (await this.run(args, { signal })).stdout;
  }

  async paneInfo(name: string, signal?: AbortSignal): Promise<PaneInfo> {
    assertSessionName(name);
    const r = await this.run(["display-message", "-p", "-t", paneTarget(name), "#{pane_title}\t#{pane_current_command}\t#{pane_pid}\t#{pane_dead}\t#{pane_current_path}"], { signal });
    const [title = "", currentCommand = "", pid = "0", dead = "0", currentPath = ""] = r.stdout.replace(/\n$/, "").split("\t");
    return { title, currentCommand, pid: Number(pid), dead: dead === "1", ...(currentPath ? { currentPath } : {}) };
  }

  async unsetGlobalEnv(names: readonly string[], signal?: AbortSignal): Promise<string[]> {
    if (names.length === 0) return [];
    const r = await this.run(["show-environment", "-g"], { signal, allowFailure: true });
    if (r.exitCode !== 0) {
      if (NO_SERVER.test(r.stderr)) return [];
      throw this.failure(["show-environment", "-g"], r);
    }
    // Lines are NAME=value, or -NAME for a variable already marked for removal.
    const present = new Set(r.stdout.split("\n").map((l) => l.replace(/^-/, "").split("=", 1)[0]!));
    const removed = names.filter((n) => present.has(n));
    for (const name of removed) await this.run(["set-environment", "-g", "-u", name], { signal });
    return removed;
  }

  /** Kills this client's whole server: only for the private sockets tests and the demo create. */
  async killServer(): Promise<void> {
    if (this.prefix.length === 0) throw new TmuxError("TMUX_FAILED", "refusing to kill the default tmux server", { argv: ["kill-server"] });
    await this.run(["kill-server"], { allowFailure: true });
  }
}

