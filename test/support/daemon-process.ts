/**
 * `claude-failover run` as a real child process (the TypeScript entry through tsx's loader), for tests
 * that must kill the daemon the way a power cut or `kill -9` would: nothing of it survives but what it
 * put on disk and in tmux.
 */
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { REPO } from "./claude-sandbox.js";
import { errnoOf } from "../../src/lib/errors.js";

const MAIN = path.join(REPO, "src", "main.ts");

/** Variables of the test's own process that must not reach a daemon run, its tmux server or its agents. */
const STRIPPED = ["CLAUDE_FAILOVER_CRASH_AT", "CLAUDE_FAILOVER_CONFIG", "NODE_TEST_CONTEXT"];

/** `env` without the crash point, config path and node:test markers of the process that runs the test. */
export function cleanEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env };
  for (const name of STRIPPED) delete out[name];
  return out;
}

export interface DaemonExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface DaemonProcess {
  readonly pid: number;
  /** stdout and stderr of this run (pino JSON lines, and any start-up message). */
  readonly logFile: string;
  readonly startedAt: number;
  /** Settles when the process has exited (never rejects). */
  readonly exited: Promise<DaemonExit>;
  /** How it ended; undefined while it runs. */
  exit(): DaemonExit | undefined;
  /** Signals the process by pid, only while it is known to run (a reused pid is never hit). */
  kill(signal: NodeJS.Signals): boolean;
  /** The log's lines parsed as JSON (lines that are not JSON are kept as `{ msg: line }`). */
  logLines(): Promise<Record<string, unknown>[]>;
}

export interface DaemonProcessOptions {
  configPath: string;
  /** The sandbox's environment (HOME inside it, no credential of the machine). */
  env: NodeJS.ProcessEnv;
  logFile: string;
  /** CLAUDE_FAILOVER_CRASH_AT for this run: `<point>[:<n>]`. */
  crashAt?: string;
}

/** Starts `node --import <tsx> src/main.ts run --config <file>`; its output goes to `logFile`. */
export function startDaemonProcess(o: DaemonProcessOptions): DaemonProcess {
  const env = cleanEnv(o.env);
  if (o.crashAt !== undefined) env.CLAUDE_FAILOVER_CRASH_AT = o.crashAt;
  const fd = openSync(o.logFile, "a", 0o600);
  let child;
  try {
    child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), MAIN, "run", "--config", o.configPath], {
      env, stdio: ["ignore", fd, fd], cwd: REPO,
    });
  } finally {
    closeSync(fd);
  }
  let ended: DaemonExit | undefined;
  const exited = new Promise<DaemonExit>((resolve) => {
    child.once("exit", (code, signal) => {
      ended = { code, signal };
      resolve(ended);
    });
    child.once("error", () => {
      ended ??= { code: null, signal: null };
      resolve(ended);
    });
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start the daemon: ${process.execPath} ${MAIN} run`);
  return {
    pid, logFile: o.logFile, startedAt: Date.now(), exited,
    exit: () => ended,
    kill(signal) {
      if (ended !== undefined) return false;
      try {
        process.kill(pid, signal);
        return true;
      } catch (err) {
        // Gone already, its exit not yet reported.
        if (errnoOf(err) === "ESRCH") return false;
        throw err;
      }
    },
    async logLines() {
      const text = await readFile(o.logFile, "utf8").catch(() => "");
      return text.split("\n").filter((l) => l.trim() !== "").map((line) => {
        try {
          const parsed: unknown = JSON.parse(line);
          return typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>) : { msg: line };
        } catch {
          return { msg: line };
        }
      });
    },
  };
}
