import path from "node:path";
import { fileURLToPath } from "node:url";
import { hookSettings } from "../claude/launch.js";
import { ensureDir } from "../lib/atomic-fs.js";
import { writeFileAtomic } from "../lib/atomic-fs.js";

export const HOOK_SETTINGS_FILE = "claude-settings.json";

/**
 * The argv that runs this very installation's `claude-failover hook`: the compiled entry under
 * node, or the TypeScript entry through tsx's loader (demo and tests). Absolute paths only: hooks run
 * in the task's working directory, not ours.
 */
export function selfCommand(): string[] {
  const here = fileURLToPath(import.meta.url);
  const ext = path.extname(here);
  const main = path.resolve(path.dirname(here), "..", `main${ext}`);
  return ext === ".ts" ? [process.execPath, "--import", import.meta.resolve("tsx"), main] : [process.execPath, main];
}

/**
 * Writes `<state_dir>/claude-settings.json` (every managed agent's `--settings`), replacing it whole: hooks
 * that run `<program> hook --url … --state-dir … EVENT`, and Claude Code's own continue-at-reset
 * (2.1.234+) off, so a task interrupted by a usage limit gets one continuation — the daemon's — not two.
 * `program` is this installation (`selfCommand`) unless a harness runs another build of the hook client.
 */
export async function writeDaemonHookSettings(stateDir: string, url: string, program: readonly string[] = selfCommand()): Promise<string> {
  const file = path.join(stateDir, HOOK_SETTINGS_FILE);
  const settings = { ...hookSettings([...program, "hook", "--url", url, "--state-dir", stateDir]), [AUTO_CONTINUE_SETTING]: false };
  await ensureDir(path.dirname(file));
  await writeFileAtomic(file, `${JSON.stringify(settings, null, 2)}\n`, 0o600);
  return file;
}

/** Claude Code's setting (settings.json) for continuing by itself when a usage limit resets. */
export const AUTO_CONTINUE_SETTING = "autoContinueAtUsageLimit";
