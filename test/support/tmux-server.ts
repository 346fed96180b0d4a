import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import path from "node:path";
import { CliTmuxClient } from "../../src/tmux/cli-client.js";

/**
 * A real tmux server on a private socket that only this test uses; `close()` kills that server
 * and nothing else, and removes the socket files tmux 3.3a leaves behind.
 */
export function privateTmux(label = "t"): { client: CliTmuxClient; socket: string; close: () => Promise<void> } {
  const socket = `cf-${label}-${process.pid}-${randomBytes(3).toString("hex")}`;
  const client = new CliTmuxClient({ socket, timeoutMs: 10_000 });
  return {
    client, socket,
    close: async () => {
      await client.killServer();
      await removeSocketFiles(socket);
    },
  };
}

/** Removes what tmux 3.3a leaves of a killed private server in its socket folder: the socket and its lock file. */
export async function removeSocketFiles(socket: string): Promise<void> {
  const file = path.join(process.env.TMUX_TMPDIR ?? "/tmp", `tmux-${process.getuid?.() ?? 0}`, socket);
  // ...and the daemon's own lock beside it (left when a test kills the daemon with SIGKILL).
  for (const f of [file, `${file}.lock`, `${file}.claude-failover.lock`]) await rm(f, { force: true });
}
