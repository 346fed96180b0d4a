import { after } from "node:test";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

// Test support. Every test file runs in its own process: this hook, registered when a file first
// imports the module, removes that file's temp folders once its tests are done.
const made: string[] = [];
after(async () => {
  for (const dir of made.splice(0)) await rm(dir, { recursive: true, force: true, maxRetries: 3 });
});

/** A fresh folder under the OS temp dir, named `<prefix><random>`, removed after the file's tests. */
export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}
