import { randomBytes } from "node:crypto";
import { open, rename, unlink, mkdir } from "node:fs/promises";
import path from "node:path";

/** fsyncs a folder so a rename or create inside it survives a power cut. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes a file durably: temp file in the same folder → write → fsync → rename → fsync the folder.
 * A reader sees the old content or the new, never a half-written file.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const dir = path.dirname(file);
  const tmp = await writeDurableTemp(dir, `.${path.basename(file)}.${process.pid}`, data, mode);
  try {
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fsyncDir(dir);
}

/** Moves a file between folders with one rename, then fsyncs both folders (Maildir discipline). */
export async function moveDurably(from: string, to: string): Promise<void> {
  await rename(from, to);
  const a = path.dirname(from);
  const b = path.dirname(to);
  await fsyncDir(b);
  if (a !== b) await fsyncDir(a);
}

/** mkdir -p with a mode; existing folders are left as they are. */
export async function ensureDir(dir: string, mode = 0o700): Promise<void> {
  await mkdir(dir, { recursive: true, mode });
}

/** A temp file of these writers (and `tempPathBeside`): a dot-file ending in `.tmp`; a stale one is a crash's leftover. */
export function isTempName(name: string): boolean {
  return name.startsWith(".") && name.endsWith(".tmp");
}

/**
 * Writes `data` to a new dot-file `<prefix>.<random>.tmp` in `dir` and fsyncs it; returns its path.
 * The caller renames (or links) it into place. A failed write leaves nothing behind.
 */
export async function writeDurableTemp(dir: string, prefix: string, data: string | Uint8Array, mode = 0o600): Promise<string> {
  const tmp = path.join(dir, `${prefix}.${randomBytes(4).toString("hex")}.tmp`);
  await writeNewFile(tmp, data, mode, { sync: true });
  return tmp;
}

/** Creates `file` (never replacing one) holding `data`, fsynced with `sync`. A failed write leaves nothing behind. */
export async function writeNewFile(file: string, data: string | Uint8Array, mode = 0o600, options: { sync?: boolean } = {}): Promise<void> {
  const handle = await open(file, "wx", mode);
  try {
    await handle.writeFile(data);
    if (options.sync) await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await unlink(file).catch(() => undefined);
    throw err;
  }
  await handle.close();
}
