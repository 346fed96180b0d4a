import { randomBytes } from "node:crypto";
import { CliTmuxClient } from "../../src/tmux/cli-client.js";

/**
 * A real tmux server on a private socket that only this test uses; `close()` kills that server
 * and nothing else.
 */
export function privateTmux(label = "t"): { client: CliTmuxClient; socket: string; close: () => Promise<void> } {
  const socket = `cf-${label}-${process.pid}-${randomBytes(3).toString("hex")}`;
  const client = new CliTmuxClient({ socket, timeoutMs: 10_000 });
  return { client, socket, close: () => client.killServer() };
}
