/**
 * What the last line of a turn says: a usage limit, an error, a usage warning, or nothing of note.
 * Every pattern is anchored at the start of the entry: a real banner opens its own `⎿`/`●` line, while a reply or
 * a prompt that quotes one has it somewhere inside (U1: conversation that mentions a limit must never swap accounts).
 */
import type { LimitKind } from "./screen.js";

export type ErrorDetail =
  | "api-500"
  | "overloaded-529"
  | "request-rejected-429"
  | "server-limiting"
  | "connection"
  | "timeout"
  | "auth"
  | "api-error";

export type Banner =
  | { type: "limit"; kind: LimitKind }
  | { type: "error"; detail: ErrorDetail }
  | { type: "warning" }
  | { type: "retrying" }
  | { type: "interrupted" };

// A real banner is one or two short lines; a reply that happens to open with the words is longer.
const MAX_LIMIT_BANNER_CHARS = 300;

// After the limit phrase comes the end, a `·`/`∙` separator (both occur), a period, the 1.0.x pipe, or a /command.
const END = String.raw`(?=\s*$|\s*[·∙|.]|\s+/)`;
const APOS = "['’]";
const LIMIT_PATTERNS: { pattern: RegExp; kind: (word: string) => LimitKind }[] = [
  // 2.1.x: "You've hit your session limit · resets 1:20am (Europe/Vienna)"; 2.1.312+: "your 5-hour limit"
  {
    pattern: new RegExp(`^You${APOS}ve hit your (?:(session|5-hour|weekly|opus|sonnet|usage) )?limit${END}`, "i"),
    kind: kindOf,
  },
  // 2.1.332: Esc on "Continuing automatically at …": the account is still at its limit, nothing will continue.
  { pattern: new RegExp(`^Automatic continue cancelled${END}`, "i"), kind: () => "usage" },
  // 2.1.x: "You're out of extra usage · resets …" ("usage credits" is the newer name for the same thing)
  { pattern: new RegExp(`^You${APOS}re out of (?:extra usage|usage credits)${END}`, "i"), kind: () => "extra" },
  // 2.0.x: "5-hour limit reached · resets 2pm (Pacific/Auckland) · /upgrade …", "Weekly limit reached ∙ resets …"
  {
    pattern: new RegExp(`^(5-hour|session|weekly|opus|sonnet|usage)(?: weekly)? limit reached${END}`, "i"),
    kind: kindOf,
  },
  // 1.0.x: "Claude usage limit reached. Your limit will reset at 1pm (Etc/GMT+5)." and "…reached|1749924000"
  { pattern: new RegExp(`^Claude (?:AI )?usage limit reached${END}`, "i"), kind: () => "usage" },
];

function kindOf(word: string): LimitKind {
  switch (word.toLowerCase()) {
    case "5-hour":
    case "session":
      return "session";
    case "weekly":
      return "weekly";
    case "opus":
      return "opus";
    case "sonnet":
      return "sonnet";
    default:
      return "usage";
  }
}

// Transient server trouble inside an API error, whatever else it says: a 5xx body can contain the words "rate limit"
// (the prototype's worst false positive), and "Server is temporarily limiting requests" says "(not your usage limit)".
const TRANSIENT =
  /api_error|overloaded_error|\bOverloaded\b|not your usage limit|Server is temporarily limiting requests|Request rejected \(429\)|^API Error:?\s*5\d\d\b/i;
// An account problem, not quota: swapping on it would hide a broken login.
const AUTH =
  /^(?:Not logged in|OAuth token (?:revoked|has expired|expired)|Invalid API key|(?:Your )?credit balance is too low|Please run \/login|Invalid bearer token|Authentication (?:failed|error)|Missing API key)/i;
// Warnings while work continues: never a limit.
const WARNING = new RegExp(
  `^(?:You${APOS}ve used \\d{1,3}% of your|Approaching (?:your )?(?:[\\w-]+ )?limit|You${APOS}re now using (?:extra usage|usage credits|your usage allocation)|Now using (?:extra usage|usage credits)|You${APOS}re close to your)`,
  "i",
);

/** Reads an entry's text (glyph removed) as the CLI's banner for the turn, or null when it is ordinary output. */
export function classifyBanner(text: string): Banner | null {
  const t = text.replace(/\s+/g, " ").trim();
  if (/^API Error\b/i.test(t)) {
    // 1.0.x: "API Error (Connection error.) · Retrying in 1 seconds… (attempt 1/10)": the turn goes on.
    if (/Retrying in \d/i.test(t)) return { type: "retrying" };
    if (TRANSIENT.test(t)) return { type: "error", detail: errorDetail(t) };
    // Raw 1.0.x errors can carry the quota text after "API Error: "; a status code there is never quota.
    const bare = t.replace(/^API Error:?\s*/i, "");
    const limit = matchLimit(bare);
    if (limit !== null) return limit;
    if (AUTH.test(bare)) return { type: "error", detail: "auth" };
    return { type: "error", detail: errorDetail(t) };
  }
  if (/^Server is temporarily limiting requests/i.test(t)) return { type: "error", detail: "server-limiting" };
  const limit = matchLimit(t);
  if (limit !== null) return limit;
  if (AUTH.test(t)) return { type: "error", detail: "auth" };
  if (/^(?:Error: )?Request timed out/i.test(t)) return { type: "error", detail: "timeout" };
  if (/^(?:Error: )?(?:Connection error|Unable to connect to Anthropic services)/i.test(t)) {
    return { type: "error", detail: "connection" };
  }
  if (WARNING.test(t)) return { type: "warning" };
  if (/^Interrupted\b/i.test(t)) return { type: "interrupted" };
  return null;
}

function matchLimit(t: string): Banner | null {
  if (t.length > MAX_LIMIT_BANNER_CHARS) return null;
  for (const { pattern, kind } of LIMIT_PATTERNS) {
    const match = pattern.exec(t);
    if (match !== null) return { type: "limit", kind: kind(match[1] ?? "") };
  }
  return null;
}

function errorDetail(t: string): ErrorDetail {
  if (/Server is temporarily limiting requests|not your usage limit/i.test(t)) return "server-limiting";
  if (/\b529\b|overloaded/i.test(t)) return "overloaded-529";
  if (/Request rejected \(429\)/i.test(t)) return "request-rejected-429";
  if (/^API Error:?\s*5\d\d\b|api_error|Internal server error/i.test(t)) return "api-500";
  if (/Connection error|ECONNREFUSED|ECONNRESET|ENOTFOUND|fetch failed|socket hang up/i.test(t)) return "connection";
  if (/timed out|timeout/i.test(t)) return "timeout";
  if (
    /^API Error:?\s*40[13]\b|authentication_error|permission_error|invalid x-api-key|OAuth token|\/login|credit balance/i.test(
      t,
    )
  ) {
    return "auth";
  }
  return "api-error";
}
