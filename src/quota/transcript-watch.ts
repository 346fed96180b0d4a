import { stat } from "node:fs/promises";
import { readTranscript, type ApiErrorLine } from "../claude/transcripts.js";

/** How much of a transcript's end is read: its last turns (an error line is a few hundred bytes). */
const TAIL_BYTES = 256 * 1024;
/** Transcripts remembered (one per agent the daemon ran lately). */
const MAX_FILES = 1000;

/**
 * The synthetic API-error lines of agents' transcripts, U3's second source: Claude Code writes one
 * when a turn ends on an error, a usage limit included. Asked after each screen poll that did not
 * show a busy agent, it reads a file only when its size or time changed since the last read, so a
 * turn that ended is read once, not at every poll (the caller keeps to one read per file at a time).
 */
export class TranscriptWatch {
  private readonly marks = new Map<string, string>();

  /** The file's error lines when it changed since the last call, else null (unchanged, missing, unreadable). */
  async errorsIfChanged(file: string): Promise<ApiErrorLine[] | null> {
    try {
      const st = await stat(file).catch(() => null);
      if (st === null || !st.isFile()) return null;
      const mark = `${st.size}:${st.mtimeMs}`;
      if (this.marks.get(file) === mark) return null;
      this.marks.delete(file);
      this.marks.set(file, mark);
      if (this.marks.size > MAX_FILES) this.marks.delete(this.marks.keys().next().value!);
      return (await readTranscript(file, { maxBytes: TAIL_BYTES })).apiErrors;
    } catch {
      // A transcript cut mid-write or unreadable: the next change is read again.
      this.marks.delete(file);
      return null;
    }
  }
}
