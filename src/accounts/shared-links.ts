import { randomBytes } from "node:crypto";
import { lstat, mkdir, readlink, realpath, rename, stat, symlink, unlink } from "node:fs/promises";
import path from "node:path";
import { fsyncDir } from "../lib/atomic-fs.js";
import { AppError, describeError, errnoOf, isNotFound } from "../lib/errors.js";
import { shellQuote as q } from "../lib/shell-quote.js";

/**
 * The three links inside every account home that point at one shared folder each, so transcripts,
 * undo history and resume work whichever account is active. Without them Claude Code writes into the
 * home's private `projects/`: duplicated transcripts and a silently broken `--resume`.
 */
export const SHARED_LINK_NAMES = ["projects", "file-history", "session-env"] as const;
export type SharedLinkName = (typeof SHARED_LINK_NAMES)[number];

export type LinkProblemKind =
  | "missing"
  | "divergent"
  | "not-a-link"
  | "home-missing"
  | "home-not-dir"
  | "target-missing"
  | "target-not-dir"
  | "io";

/** One thing wrong with an account's links, with the exact human action that fixes it. Holds paths only, never secrets. */
export interface LinkProblem {
  /** Set by the aggregate functions. */
  account?: string;
  home: string;
  /** The link path; the home itself for `home-*` problems, the shared folder for `target-*` problems. */
  link: string;
  kind: LinkProblemKind;
  /** What is there instead: a link's text (and where it resolves), "a folder", "a file", an error code. */
  found?: string;
  expected: string;
  fix: string;
}

export interface LinkCreated {
  home: string;
  link: string;
  target: string;
  /** True when the shared folder did not exist and was created (mode 0700) too. */
  createdTarget: boolean;
}

export interface Account {
  name: string;
  home: string;
}

export interface EnsureResult {
  created: string[];
  problems: LinkProblem[];
}

/** Links and the claude link. Codes: SHARED_ROOT_NOT_ABSOLUTE, CLAUDE_LINK_NOT_SYMLINK, CLAUDE_LINK_TARGET_NOT_DIR, CLAUDE_LINK_FLIP_FAILED. */
export class LinkError extends AppError {}

/** `<sharedRoot>/.claude-<name>-shared`. The root must be absolute: a relative one would follow the daemon's cwd. */
export function sharedTarget(sharedRoot: string, name: SharedLinkName): string {
  if (!path.isAbsolute(sharedRoot)) {
    throw new LinkError("SHARED_ROOT_NOT_ABSOLUTE", `shared_root must be an absolute path, found ${JSON.stringify(sharedRoot)}`);
  }
  return path.join(path.resolve(sharedRoot), `.claude-${name}-shared`);
}

/** One line for logs and start-up refusals: where, what was expected, what was found, and the fix. */
export function formatLinkProblem(p: LinkProblem): string {
  const who = p.account === undefined ? "" : `account ${p.account}: `;
  const found = p.found === undefined ? "" : `, found ${p.found}`;
  return `${who}${p.link} [${p.kind}]: expected ${p.expected}${found} — fix: ${p.fix}`;
}

// ---------------------------------------------------------------------------------------------
// Inspection (read-only)

type LinkState =
  | { kind: "correct"; targetExists: boolean }
  | { kind: "absent" }
  | { kind: "problem"; problem: LinkProblem };

type TargetState = "dir" | "absent" | LinkProblem;


function ioProblem(home: string, link: string, expected: string, err: unknown): LinkProblem {
  return {
    home,
    link,
    kind: "io",
    found: errnoOf(err) ?? "error",
    expected,
    fix: `check that the daemon's user can read ${q(link)} (${describeError(err)})`,
  };
}

/** Null when the home is a folder (or a link to one). */
async function inspectHome(home: string): Promise<LinkProblem | null> {
  const expected = "an account home folder";
  try {
    const st = await stat(home);
    if (st.isDirectory()) return null;
    return {
      home,
      link: home,
      kind: "home-not-dir",
      found: describeKind(st),
      expected,
      fix: `move ${q(home)} out of the way, then create the home: mkdir -m 700 ${q(home)} and log in with CLAUDE_CONFIG_DIR=${q(home)} claude — or correct accounts[].home in the config`,
    };
  } catch (err) {
    const code = errnoOf(err);
    if (code === "ENOENT" || code === "ENOTDIR") {
      return {
        home,
        link: home,
        kind: "home-missing",
        found: code === "ENOENT" ? "nothing" : "a parent path that is not a folder",
        expected,
        fix: `create the home: mkdir -m 700 ${q(home)} and log in with CLAUDE_CONFIG_DIR=${q(home)} claude — or correct accounts[].home in the config`,
      };
    }
    return ioProblem(home, home, expected, err);
  }
}

function describeKind(st: { isDirectory(): boolean; isFile(): boolean; isSymbolicLink(): boolean }): string {
  if (st.isSymbolicLink()) return "a symlink";
  if (st.isDirectory()) return "a folder";
  if (st.isFile()) return "a file";
  return "a special file";
}

/** The shared folder itself (followed if it is a link). */
async function inspectTarget(home: string, target: string): Promise<TargetState> {
  try {
    const st = await stat(target);
    if (st.isDirectory()) return "dir";
    return {
      home,
      link: target,
      kind: "target-not-dir",
      found: describeKind(st),
      expected: "the shared folder",
      fix: `move ${q(target)} out of the way (it is not a folder), then: mkdir -m 700 ${q(target)}`,
    };
  } catch (err) {
    if (isNotFound(err)) return "absent";
    return ioProblem(home, target, "the shared folder", err);
  }
}

/**
 * True when the link text leads to `expected`: compared as resolved absolute paths (relative text
 * resolves against the link's real folder, as the kernel does), then by realpath when both exist.
 */
async function leadsTo(link: string, text: string, expected: string): Promise<boolean> {
  const dir = path.dirname(link);
  const realDir = await realpath(dir).catch(() => dir);
  if (path.resolve(realDir, text) === expected) return true;
  try {
    const [a, b] = await Promise.all([realpath(link), realpath(expected)]);
    return a === b;
  } catch {
    return false;
  }
}

async function inspectLink(home: string, name: SharedLinkName, target: string): Promise<LinkState> {
  const link = path.join(home, name);
  const expected = `a symlink to ${target}`;
  let st;
  try {
    st = await lstat(link);
  } catch (err) {
    if (isNotFound(err)) return { kind: "absent" };
    return { kind: "problem", problem: ioProblem(home, link, expected, err) };
  }
  if (!st.isSymbolicLink()) {
    const isDir = st.isDirectory();
    const fix = isDir
      ? `move the folder's content into ${q(target)}, then: rmdir ${q(link)} && ln -s ${q(target)} ${q(link)}`
      : `move ${q(link)} out of the way (e.g. mv ${q(link)} ${q(`${link}.bak`)}), then: ln -s ${q(target)} ${q(link)}`;
    return { kind: "problem", problem: { home, link, kind: "not-a-link", found: describeKind(st), expected, fix } };
  }
  let text: string;
  try {
    text = await readlink(link);
  } catch (err) {
    return { kind: "problem", problem: ioProblem(home, link, expected, err) };
  }
  if (await leadsTo(link, text, target)) {
    const t = await inspectTarget(home, target);
    if (t === "dir") return { kind: "correct", targetExists: true };
    if (t === "absent") return { kind: "correct", targetExists: false };
    return { kind: "problem", problem: t };
  }
  const resolved = path.resolve(path.dirname(link), text);
  const found = resolved === text ? `a symlink to ${text}` : `a symlink to ${text} (resolves to ${resolved})`;
  return {
    kind: "problem",
    problem: {
      home,
      link,
      kind: "divergent",
      found,
      expected,
      fix: `look at what ${q(resolved)} holds and move anything worth keeping into ${q(target)}, then: rm ${q(link)} && ln -s ${q(target)} ${q(link)}`,
    },
  };
}

function missingProblem(home: string, link: string, target: string, targetExists: boolean): LinkProblem {
  const mk = targetExists ? "" : `mkdir -m 700 ${q(target)} && `;
  return {
    home,
    link,
    kind: "missing",
    found: "nothing",
    expected: `a symlink to ${target}`,
    fix: `${mk}ln -s ${q(target)} ${q(link)} (the daemon also creates it at start)`,
  };
}

function targetMissingProblem(home: string, target: string): LinkProblem {
  return {
    home,
    link: target,
    kind: "target-missing",
    found: "nothing",
    expected: "the shared folder",
    fix: `mkdir -m 700 ${q(target)} (the daemon also creates it at start)`,
  };
}

/** Read-only check of one home's shared links: every problem, nothing changed. */
export async function inspectSharedLinks(home: string, sharedRoot: string): Promise<LinkProblem[]> {
  const absHome = path.resolve(home);
  const homeProblem = await inspectHome(absHome);
  if (homeProblem) return [homeProblem];
  const problems: LinkProblem[] = [];
  for (const name of SHARED_LINK_NAMES) {
    const target = sharedTarget(sharedRoot, name);
    const state = await inspectLink(absHome, name, target);
    if (state.kind === "problem") {
      problems.push(state.problem);
    } else if (state.kind === "absent") {
      const t = await inspectTarget(absHome, target);
      // A shared folder that is not a folder is the problem to fix first; the link follows (as ensure does).
      problems.push(typeof t === "object" ? t : missingProblem(absHome, path.join(absHome, name), target, t === "dir"));
    } else if (!state.targetExists) {
      problems.push(targetMissingProblem(absHome, target));
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Ensuring (creates what is missing, never corrects or deletes)

/** Creates the shared folder (0700) if absent; null when it is (now) a folder. */
async function ensureTarget(home: string, target: string): Promise<{ created: boolean; problem: LinkProblem | null }> {
  const before = await inspectTarget(home, target);
  if (before === "dir") return { created: false, problem: null };
  if (before !== "absent") return { created: false, problem: before };
  let created = false;
  try {
    // Not recursive: a missing shared root is a configuration mistake to report, not to paper over.
    await mkdir(target, { mode: 0o700 });
    created = true;
    await fsyncDir(path.dirname(target));
  } catch (err) {
    if (errnoOf(err) !== "EEXIST") return { created: false, problem: ioProblem(home, target, "the shared folder", err) };
  }
  const after = await inspectTarget(home, target);
  if (after === "dir") return { created, problem: null };
  return { created: false, problem: after === "absent" ? targetMissingProblem(home, target) : after };
}

async function ensureLink(
  home: string,
  name: SharedLinkName,
  sharedRoot: string,
  log: ((entry: LinkCreated) => void) | undefined,
): Promise<{ created: boolean; problems: LinkProblem[] }> {
  const target = sharedTarget(sharedRoot, name);
  const link = path.join(home, name);
  const state = await inspectLink(home, name, target);
  if (state.kind === "problem") return { created: false, problems: [state.problem] };
  const t = await ensureTarget(home, target);
  if (t.problem) return { created: false, problems: [t.problem] };
  if (state.kind === "correct") {
    if (t.created) log?.({ home, link, target, createdTarget: true });
    return { created: false, problems: [] };
  }
  let madeIt = false;
  try {
    await symlink(target, link);
    madeIt = true;
    await fsyncDir(home);
  } catch (err) {
    // EEXIST: someone else made something here between our look and our symlink; judge what is there now.
    if (errnoOf(err) !== "EEXIST") return { created: false, problems: [ioProblem(home, link, `a symlink to ${target}`, err)] };
  }
  // Verify rather than trust: whatever is there now is what Claude Code will use.
  const now = await inspectLink(home, name, target);
  if (now.kind === "problem") return { created: false, problems: [now.problem] };
  if (now.kind === "absent") return { created: false, problems: [missingProblem(home, link, target, true)] };
  if (madeIt) log?.({ home, link, target, createdTarget: t.created });
  return { created: madeIt, problems: [] };
}

/**
 * Creates a home's missing shared links (and shared folders, mode 0700), leaves correct ones alone,
 * and reports everything else. A divergent link or a real file/folder in a link's place is never
 * corrected or deleted: it may hold the only copy of someone's transcripts.
 */
export async function ensureSharedLinks(
  home: string,
  sharedRoot: string,
  log?: (entry: LinkCreated) => void,
): Promise<EnsureResult> {
  const absHome = path.resolve(home);
  const homeProblem = await inspectHome(absHome);
  if (homeProblem) return { created: [], problems: [homeProblem] };
  const result: EnsureResult = { created: [], problems: [] };
  for (const name of SHARED_LINK_NAMES) {
    const r = await ensureLink(absHome, name, sharedRoot, log);
    if (r.created) result.created.push(path.join(absHome, name));
    result.problems.push(...r.problems);
  }
  return result;
}

/** Ensures every account and returns every problem of every account (never stops at the first). */
export async function ensureAllAccounts(
  accounts: readonly Account[],
  sharedRoot: string,
  log?: (entry: LinkCreated & { account: string }) => void,
): Promise<EnsureResult> {
  const all: EnsureResult = { created: [], problems: [] };
  for (const account of accounts) {
    const r = await ensureSharedLinks(account.home, sharedRoot, log && ((e) => log({ ...e, account: account.name })));
    all.created.push(...r.created);
    all.problems.push(...r.problems.map((p) => ({ ...p, account: account.name })));
  }
  return all;
}

/** Read-only: every problem of every account, for `doctor`. */
export async function validateAllAccounts(accounts: readonly Account[], sharedRoot: string): Promise<LinkProblem[]> {
  const all: LinkProblem[] = [];
  for (const account of accounts) {
    const problems = await inspectSharedLinks(account.home, sharedRoot);
    all.push(...problems.map((p) => ({ ...p, account: account.name })));
  }
  return all;
}

// ---------------------------------------------------------------------------------------------
// The claude link

/**
 * Atomically points the claude link (e.g. `~/.claude`) at `targetHome`: a new symlink under a temp
 * name in the same folder, renamed over the link, then the folder fsynced. Readers see the old
 * target or the new one, never no link. Refuses when a real file or folder stands at `linkPath`.
 * Returns the previous target as an absolute path, or null when there was no link.
 */
export async function flipLink(linkPath: string, targetHome: string): Promise<string | null> {
  const link = path.resolve(linkPath);
  const target = path.resolve(targetHome);
  const dir = path.dirname(link);
  let previous: string | null = null;
  try {
    const st = await lstat(link);
    if (!st.isSymbolicLink()) {
      throw new LinkError(
        "CLAUDE_LINK_NOT_SYMLINK",
        `claude link ${link}: expected a symlink (or nothing), found ${describeKind(st)}; it is left untouched — move it away by hand`,
      );
    }
    previous = path.resolve(dir, await readlink(link));
  } catch (err) {
    if (err instanceof LinkError) throw err;
    if (!isNotFound(err)) {
      throw new LinkError("CLAUDE_LINK_FLIP_FAILED", `claude link ${link}: cannot read it: ${describeError(err)}`, { cause: err });
    }
  }
  let targetIsDir = false;
  try {
    targetIsDir = (await stat(target)).isDirectory();
  } catch {
    targetIsDir = false;
  }
  if (!targetIsDir) {
    throw new LinkError("CLAUDE_LINK_TARGET_NOT_DIR", `claude link ${link}: target ${target} must be an existing folder (an account home)`);
  }
  const tmp = path.join(dir, `.${path.basename(link)}.flip-${process.pid}-${randomBytes(4).toString("hex")}`);
  try {
    await symlink(target, tmp);
    // rename(2) replaces a symlink atomically; over a folder it fails (EISDIR), so data is never removed.
    await rename(tmp, link);
    await fsyncDir(dir);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw new LinkError("CLAUDE_LINK_FLIP_FAILED", `claude link ${link}: could not point it at ${target}: ${describeError(err)}`, {
      cause: err,
    });
  }
  return previous;
}
