import { locateTranscript, readTranscript, TranscriptError, type TranscriptSummary } from "../claude/transcripts.js";
import type { AccountConfig } from "../config/schema.js";
import type { PromptEvidence } from "../dispatch/work-loop.js";
import { describeError } from "../lib/errors.js";
import type { Logger } from "../lib/logger.js";
import { accountOrFirst } from "./account-lookup.js";

export interface TranscriptEvidenceDeps {
  accounts: readonly AccountConfig[];
  log: Logger;
  read?: (file: string) => Promise<TranscriptSummary>;
}

/**
 * What the work loop asks of an agent's transcript. "Not there yet" (no file, no prompt line) is an
 * answer; a read that failed or skipped lines is not, and is logged as such instead of passing for "no prompt".
 */
export function transcriptEvidence(d: TranscriptEvidenceDeps) {
  const read = d.read ?? ((file: string) => readTranscript(file));
  const summary = async (accountName: string, cwd: string, id: string): Promise<TranscriptSummary | "absent" | "unreadable"> => {
    const home = accountOrFirst(d.accounts, { name: accountName }, d.log, "transcript").home;
    try {
      return await read(await locateTranscript(home, cwd, id));
    } catch (err) {
      if (err instanceof TranscriptError && err.code === "TRANSCRIPT_NOT_FOUND") return "absent";
      d.log.warn({ account: accountName, claudeSessionId: id, err: describeError(err) }, "transcript not readable");
      return "unreadable";
    }
  };
  return {
    lastMessage: async (accountName: string, cwd: string, id: string): Promise<string | undefined> => {
      const s = await summary(accountName, cwd, id);
      return typeof s === "string" ? undefined : s.lastAssistant?.text;
    },
    promptDelivered: async (accountName: string, cwd: string, id: string): Promise<PromptEvidence> => {
      const s = await summary(accountName, cwd, id);
      if (s === "absent") return false;
      if (s === "unreadable") return "unknown";
      if (s.lastPrompt !== undefined) return true;
      // A skipped line (malformed, oversized, before the window) may be the prompt; a half-written last line is not there yet.
      if (s.malformedLines > 0 || s.oversizedLines > 0 || s.windowStart > 0) {
        d.log.warn({ account: accountName, claudeSessionId: id, malformed: s.malformedLines, oversized: s.oversizedLines }, "transcript shows no prompt but skipped lines: delivery unknown");
        return "unknown";
      }
      return false;
    },
  };
}
