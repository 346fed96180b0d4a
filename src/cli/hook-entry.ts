import { readStdinBounded, runHookCommand } from "../claude/hook-client.js";
import { readHookToken } from "../claude/hook-token.js";
import type { CliIo } from "./io.js";

/** Where the hook forwards to without --url and --state-dir (the `hook` command's help shows the same). */
export const HOOK_DEFAULTS = { url: "http://127.0.0.1:7420", stateDir: "/var/lib/claude-failover" } as const;

/**
 * `claude-failover hook [--url U] [--state-dir D] EVENT` without loading the rest of the CLI: it runs
 * several times per task on the agent's critical path (two hooks back to back before a prompt is taken),
 * so it imports only what forwarding a payload needs. Never blocks or breaks Claude Code: bounded time,
 * nothing on stdout (it would reach the model) nor on stderr, exit 0 always.
 */
export async function runHookEntry(argv: readonly string[], io: CliIo): Promise<number> {
  const args = [...argv];
  const take = (flag: string, fallback: string): string => {
    const i = args.indexOf(flag);
    if (i < 0) return fallback;
    const value = args[i + 1] ?? fallback;
    args.splice(i, 2);
    return value;
  };
  const url = take("--url", HOOK_DEFAULTS.url);
  const stateDir = take("--state-dir", HOOK_DEFAULTS.stateDir);
  const event = args.find((a) => !a.startsWith("-")) ?? "Unknown";
  try {
    const stdinText = await readStdinBounded(io.stdin);
    const token = await readHookToken(stateDir);
    // Not delivered: it waits in the spool, drained (and logged) by the daemon.
    await runHookCommand({ event, stdinText, env: io.env, stateDir, daemonUrl: url, ...(token ? { token } : {}), timeoutMs: 2000 });
  } catch {
    // Nothing on stderr either (the README promises silence): Claude Code may show it to the operator or the model.
  }
  return 0;
}
