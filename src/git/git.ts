import { execFile } from "node:child_process";
import { AppError } from "../lib/errors.js";

/** What went wrong running git: not installed, failed (with its stderr), or too slow. */
export type GitErrorCode = "GIT_NOT_FOUND" | "GIT_FAILED" | "GIT_TIMEOUT";

/** A git command that failed; `stderr` is git's own explanation (trimmed, at most 2 KiB). */
export class GitError extends AppError {
  constructor(code: GitErrorCode, message: string, readonly argv: readonly string[], readonly stderr: string, readonly exitCode?: number, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** The seam every git call goes through: argv arrays only, never a shell line. */
export interface GitRunner {
  /** Runs `git <args>` in `cwd`; resolves stdout, rejects with GitError. */
  run(cwd: string, args: readonly string[], signal?: AbortSignal): Promise<string>;
}

const MAX_STDERR = 2048;

/**
 * The environment git gets: the daemon's, minus every GIT_* variable (a GIT_DIR or GIT_INDEX_FILE set
 * for the daemon would point the project's git at another repository), plus no terminal prompts.
 */
export function gitEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (!k.startsWith("GIT_") && v !== undefined) out[k] = v;
  // Never wait for credentials or an editor: the daemon has no one to ask.
  out.GIT_TERMINAL_PROMPT = "0";
  out.GIT_EDITOR = "true";
  return out;
}

/** The real runner: execFile("git", argv) with the scrubbed environment and a timeout. */
export function execGit(o: { env?: NodeJS.ProcessEnv; binary?: string; timeoutMs?: number } = {}): GitRunner {
  const env = gitEnvironment(o.env ?? process.env);
  const binary = o.binary ?? "git";
  return {
    run: (cwd, args, signal) =>
      new Promise<string>((resolve, reject) => {
        execFile(binary, [...args], { cwd, env, timeout: o.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024, ...(signal ? { signal } : {}) }, (err, stdout, stderr) => {
          if (!err) return resolve(stdout);
          const e: Error & { code?: unknown; killed?: boolean } = err;
          if (e.name === "AbortError") return reject(e);
          const text = String(stderr).trim().slice(0, MAX_STDERR);
          const what = `git ${args.join(" ")}`;
          if (e.code === "ENOENT" && typeof e.code === "string" && text === "") {
            return reject(new GitError("GIT_NOT_FOUND", `${what}: git is not installed or not on PATH (or ${cwd} does not exist)`, args, text, undefined, { cause: err }));
          }
          if (e.killed) return reject(new GitError("GIT_TIMEOUT", `${what}: no answer within ${o.timeoutMs ?? 60_000} ms`, args, text, undefined, { cause: err }));
          const exit = typeof e.code === "number" ? e.code : undefined;
          reject(new GitError("GIT_FAILED", `${what} failed${exit !== undefined ? ` (exit ${String(exit)})` : ""}: ${text || e.message}`, args, text, exit, { cause: err }));
        });
      }),
  };
}
