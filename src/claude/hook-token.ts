import { readFile, unlink } from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic } from "../lib/atomic-fs.js";

/**
 * The API token is handed to hook commands through a 0600 file in the state dir rather than the
 * agent's environment, where the model could read it back with a tool call.
 */
const TOKEN_FILE = "hook-token";

/** Written by the daemon at start; removed when no token is configured. */
export async function writeHookToken(stateDir: string, token: string | undefined): Promise<void> {
  const file = path.join(stateDir, TOKEN_FILE);
  if (token) await writeFileAtomic(file, token, 0o600);
  else await unlink(file).catch(() => undefined);
}

/** Read by the `hook` command on each call; no file (or none readable) means no token. */
export async function readHookToken(stateDir: string): Promise<string | undefined> {
  try {
    return (await readFile(path.join(stateDir, TOKEN_FILE), "utf8")).trim() || undefined;
  } catch {
    return undefined;
  }
}
