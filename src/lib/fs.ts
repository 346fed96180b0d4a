import { lstat, stat } from "node:fs/promises";

/**
 * True when a folder sits at `p`; false when nothing can be read there. A symbolic link to a folder counts
 * only with `followLinks` (the queue never follows links; the watcher watches a linked inbox).
 */
export async function isDirectory(p: string, options: { followLinks?: boolean } = {}): Promise<boolean> {
  try {
    return (await (options.followLinks ? stat(p) : lstat(p))).isDirectory();
  } catch {
    return false;
  }
}
