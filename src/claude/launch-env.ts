import { randomBytes } from "node:crypto";
import { chmod, lstat, mkdir, readdir, unlink } from "node:fs/promises";
import path from "node:path";
import { writeNewFile } from "../lib/atomic-fs.js";
import { AppError, isNotFound } from "../lib/errors.js";
import { shellJoin, shellQuote } from "../lib/shell-quote.js";
import type { LaunchCommand } from "./launch.js";

/** The folder under the state dir that holds per-launch env files while they wait to be read. */
export const LAUNCH_ENV_DIR = "launch-env";

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * An account's environment (tokens, API keys) must never be typed into a pane: the typed line stays in
 * the scrollback and the shell's history. It is written instead to a file of mode 0600 in a private
 * 0700 folder, which `/bin/sh` runs: the file deletes itself first, exports the variables and execs the
 * agent. The typed line holds only the file's path and the agent's own arguments, and no command line
 * (`ps`) ever holds a value.
 */
export class LaunchEnvFiles {
  readonly dir: string;

  constructor(stateDir: string) {
    this.dir = path.join(stateDir, LAUNCH_ENV_DIR);
  }

  /** Writes a new env file for `env` and returns its path. */
  async write(env: Readonly<Record<string, string>>): Promise<string> {
    await this.ensurePrivateDir();
    const file = path.join(this.dir, `${randomBytes(12).toString("hex")}.sh`);
    await writeNewFile(file, envScript(env), 0o600);
    return file;
  }

  /** Removes an env file (gone already when the shell ran it). */
  async remove(file: string): Promise<void> {
    await unlink(file).catch(() => undefined);
  }

  /** At start: env files a crash left behind (never run, or run by no one) are removed. Returns how many. */
  async clear(): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if (isNotFound(err)) return 0;
      throw err;
    }
    let removed = 0;
    for (const name of names) {
      try {
        await unlink(path.join(this.dir, name));
        removed++;
      } catch {
        // A folder someone put there is not ours to delete.
      }
    }
    return removed;
  }

  private async ensurePrivateDir(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const st = await lstat(this.dir);
    if (!st.isDirectory()) throw new AppError("LAUNCH_ENV_DIR", `${this.dir} is not a folder; the agent's secrets are not written there`);
    if ((st.mode & 0o077) !== 0) await chmod(this.dir, 0o700);
  }
}

/** The env file's text: delete itself, export each variable, exec the agent's argv given as arguments. */
export function envScript(env: Readonly<Record<string, string>>): string {
  const lines = ['rm -f -- "$0"'];
  for (const [name, value] of Object.entries(env)) {
    if (!ENV_NAME.test(name)) throw new AppError("LAUNCH_BAD_ARGUMENT", `invalid environment variable name ${JSON.stringify(name)}`);
    lines.push(`export ${name}=${shellQuote(value)}`);
  }
  lines.push('exec "$@"');
  return `${lines.join("\n")}\n`;
}

/**
 * The line typed at the shell: `NAME=value … /bin/sh <env file> <argv>` — the visible variables are the
 * daemon's own (CLAUDE_CONFIG_DIR, IS_SANDBOX), the private ones sit in the file. Without a file, the
 * plain `NAME=value … argv`.
 */
export function typedLaunchLine(launch: LaunchCommand, envFile?: string): string {
  const assignments = Object.entries(launch.env).map(([k, v]) => `${k}=${shellQuote(v)}`);
  const words = envFile === undefined ? launch.argv : ["/bin/sh", envFile, ...launch.argv];
  return [...assignments, shellJoin(words)].join(" ");
}
