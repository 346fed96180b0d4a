import { lstat, realpath } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseDuration } from "../lib/duration.js";
import { parseFrontmatterFields, splitFrontmatter } from "./frontmatter.js";
import { describeBadId } from "./names.js";

/** Larger files are refused (Q2): a prompt is text for an agent, not a data dump. */
export const MAX_TASK_BYTES = 1024 * 1024;

export const PRIORITIES = ["high", "normal", "low"] as const;
export type Priority = (typeof PRIORITIES)[number];
export const PREFERRED_AI_VALUES = ["claude-code", "gpu", "gemini", "claude-api", "auto"] as const;
export type PreferredAi = (typeof PREFERRED_AI_VALUES)[number];
export const COMPLEXITY_HINTS = ["low", "medium", "high"] as const;
export type ComplexityHint = (typeof COMPLEXITY_HINTS)[number];

/**
 * Every field a task's frontmatter may hold. `delegation` is the block the delegation manager adds to an
 * `<id>.md.delegated` marker (contract §4); it is kept, not interpreted, here.
 */
export const TASK_FIELDS = [
  "title", "cwd", "timeout", "priority", "needs_claude_code", "preferred_ai", "allow_delegation", "complexity_hint", "delegation", "worktree",
] as const;

export interface TaskMeta {
  title?: string;
  /** Absolute, inside the project's directory; the project directory when the task names none. */
  cwd: string;
  timeoutMs?: number;
  priority: Priority;
  needs_claude_code?: boolean;
  preferred_ai?: PreferredAi;
  allow_delegation?: boolean;
  complexity_hint?: ComplexityHint;
  /** Overrides the project's isolation: true runs the task in its own git worktree, false in the project's checkout. */
  worktree?: boolean;
}

export interface Task {
  id: string;
  project: string;
  /** The file name the task was read from (`<id>.md`). */
  file: string;
  meta: TaskMeta;
  /** The frontmatter exactly as YAML gave it (e.g. `allow_delegation: "yes"`), for the delegation router. */
  frontmatter: Readonly<Record<string, unknown>>;
  prompt: string;
  /** The file's text, verbatim (BOM and line endings included). */
  raw: string;
}

export type ParseResult = { ok: true; task: Task } | { ok: false; reason: string };

export interface ParseTaskInput {
  bytes: Uint8Array;
  project: string;
  /** The project's working directory (absolute; `~` is expanded if present). */
  projectDir: string;
  fileName: string;
}

/**
 * Reads a task file's bytes into a Task, or says precisely why it cannot be one (Q2): bad id, size, encoding,
 * frontmatter syntax, unknown field or value, empty prompt, a cwd outside the project. Never throws on input.
 */
export async function parseTask(input: ParseTaskInput): Promise<ParseResult> {
  const { bytes, project, fileName } = input;
  const badId = fileName.endsWith(".md") ? describeBadId(fileName) : `file name ${JSON.stringify(fileName)} does not end in .md`;
  if (badId) return fail(badId);
  const id = fileName.slice(0, -3);
  if (bytes.length > MAX_TASK_BYTES) return fail(`larger than 1 MiB (${bytes.length} bytes)`);
  const decoded = decodeUtf8(bytes);
  if (!decoded.ok) return decoded;
  const raw = decoded.text;
  const nul = raw.indexOf("\0");
  if (nul !== -1) return fail(`contains a NUL character at line ${lineAt(raw, nul)} (a binary file?)`);
  if (raw.replace(/^\uFEFF/, "").trim() === "") return fail("the file is empty");

  const split = splitFrontmatter(raw);
  let fields: Record<string, unknown> = {};
  if (split.yaml !== undefined) {
    const parsed = parseFrontmatterFields(split.yaml, split.yamlFirstLine);
    if (!parsed.ok) return parsed;
    fields = parsed.fields;
  }
  const meta = await readMeta(fields, input.projectDir);
  if (!meta.ok) return meta;
  const prompt = split.body.replace(/^(?:[ \t]*\r?\n)+/, "").trimEnd();
  if (prompt.trim() === "") return fail("the prompt is empty: nothing follows the frontmatter");
  return { ok: true, task: { id, project, file: fileName, meta: meta.meta, frontmatter: fields, prompt, raw } };
}

/** Lenient booleans for routing fields: true/false, 1/0, yes/no, on/off, y/n (any case); undefined otherwise. */
export function coerceBoolean(value: unknown): boolean | undefined {
  if (typeof value === "boolean") return value;
  if (value === 1 || value === 0) return value === 1;
  if (typeof value !== "string") return undefined;
  const v = value.trim().toLowerCase();
  if (["true", "yes", "y", "on", "1"].includes(v)) return true;
  if (["false", "no", "n", "off", "0"].includes(v)) return false;
  return undefined;
}

type Decoded = { ok: true; text: string } | { ok: false; reason: string };

/** Strict UTF-8 decoding that names the first bad byte; the BOM is kept so `raw` stays verbatim. */
export function decodeUtf8(bytes: Uint8Array): Decoded {
  try {
    return { ok: true, text: new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes) };
  } catch {
    // The valid prefix re-encodes to the same bytes, so the first difference is the first bad byte.
    const lossy = Buffer.from(new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes), "utf8");
    let i = 0;
    while (i < bytes.length && i < lossy.length && bytes[i] === lossy[i]) i++;
    const byte = (bytes[i] ?? 0).toString(16).toUpperCase().padStart(2, "0");
    const line = 1 + Buffer.from(bytes.subarray(0, i)).toString("latin1").split("\n").length - 1;
    return { ok: false, reason: `not UTF-8: invalid byte 0x${byte} at offset ${i} (line ${line}); save the file as UTF-8` };
  }
}

type MetaResult = { ok: true; meta: TaskMeta } | { ok: false; reason: string };

async function readMeta(fields: Record<string, unknown>, projectDir: string): Promise<MetaResult> {
  const known: readonly string[] = TASK_FIELDS;
  for (const key of Object.keys(fields)) {
    if (!known.includes(key)) return fail(`unknown field ${JSON.stringify(key)} in the frontmatter (known: ${TASK_FIELDS.join(", ")})`);
  }
  // A field written with no value (`title:`) is read as absent, like YAML's null.
  const given = (key: string): unknown => fields[key] ?? undefined;
  const meta: TaskMeta = { cwd: "", priority: "normal" };

  const title = given("title");
  if (title !== undefined) {
    if (typeof title !== "string" && typeof title !== "number") return fail(`title: expected text, found ${kindOf(title)}`);
    meta.title = String(title);
  }
  const timeout = given("timeout");
  if (timeout !== undefined) {
    const ms = typeof timeout === "string" ? parseDuration(timeout) : undefined;
    if (ms === undefined || ms <= 0) return fail(`timeout: expected a duration such as 90m, 30s or 2h (got ${JSON.stringify(timeout)})`);
    meta.timeoutMs = ms;
  }
  const priority = choice(given("priority"), "priority", PRIORITIES);
  if (!priority.ok) return priority;
  const preferred = choice(given("preferred_ai"), "preferred_ai", PREFERRED_AI_VALUES);
  if (!preferred.ok) return preferred;
  const complexity = choice(given("complexity_hint"), "complexity_hint", COMPLEXITY_HINTS);
  if (!complexity.ok) return complexity;
  if (priority.value !== undefined) meta.priority = priority.value;
  if (preferred.value !== undefined) meta.preferred_ai = preferred.value;
  if (complexity.value !== undefined) meta.complexity_hint = complexity.value;
  for (const key of ["needs_claude_code", "allow_delegation", "worktree"] as const) {
    const value = given(key);
    if (value === undefined) continue;
    const b = coerceBoolean(value);
    if (b === undefined) return fail(`${key}: unknown value ${JSON.stringify(value)} (allowed: true or false; yes/no, on/off and 1/0 are read as such)`);
    meta[key] = b;
  }
  const delegation = given("delegation");
  if (delegation !== undefined && (typeof delegation !== "object" || Array.isArray(delegation))) {
    return fail(`delegation: expected a block of fields, found ${kindOf(delegation)}`);
  }
  const cwd = given("cwd");
  if (cwd !== undefined && typeof cwd !== "string") return fail(`cwd: expected a path, found ${kindOf(cwd)}`);
  const resolved = await resolveTaskCwd(cwd === undefined || cwd.trim() === "" ? undefined : cwd, projectDir);
  if (!resolved.ok) return resolved;
  meta.cwd = resolved.cwd;
  return { ok: true, meta };
}

/**
 * Resolves a task's `cwd` (`~`, relative to the project directory, `..`) and checks it stays inside the project
 * directory, both as written and through symlinks: the deepest existing ancestor is resolved with realpath,
 * so a link inside the project pointing at /etc is refused even when the final folder does not exist yet.
 */
export async function resolveTaskCwd(cwd: string | undefined, projectDir: string): Promise<{ ok: true; cwd: string } | { ok: false; reason: string }> {
  const base = path.resolve(expandHome(projectDir));
  if (cwd === undefined) return { ok: true, cwd: base };
  if (/^~[^/]/.test(cwd)) return fail(`cwd: ${JSON.stringify(cwd)} names another user's home; use a path inside ${base}`);
  const target = path.resolve(base, expandHome(cwd));
  if (!isInside(base, target)) return fail(`cwd: ${JSON.stringify(cwd)} resolves to ${target}, outside the project directory ${base}`);
  const realBase = (await realpathOfDeepestAncestor(base)).real;
  const realTarget = await realpathOfDeepestAncestor(target);
  if (realTarget.dangling !== undefined) {
    return fail(`cwd: ${JSON.stringify(cwd)} leads through ${realTarget.dangling}, a symbolic link to a missing target; it could point anywhere`);
  }
  if (!isInside(realBase, realTarget.real)) {
    return fail(`cwd: ${JSON.stringify(cwd)} leads through a symbolic link to ${realTarget.real}, outside the project directory ${realBase}`);
  }
  return { ok: true, cwd: target };
}

function isInside(base: string, target: string): boolean {
  const rel = path.relative(base, target);
  return rel === "" || (rel !== ".." && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

function expandHome(p: string): string {
  if (p === "~") return os.homedir();
  if (p.startsWith("~/")) return path.join(os.homedir(), p.slice(2));
  return p;
}

async function realpathOfDeepestAncestor(target: string): Promise<{ real: string; dangling?: string }> {
  let existing = target;
  const rest: string[] = [];
  for (;;) {
    try {
      return { real: path.join(await realpath(existing), ...rest.reverse()) };
    } catch {
      // realpath fails on a missing path and on a dangling link alike; only lstat tells them apart.
      if (await isSymlink(existing)) return { real: target, dangling: existing };
      const parent = path.dirname(existing);
      if (parent === existing) return { real: target };
      rest.push(path.basename(existing));
      existing = parent;
    }
  }
}

async function isSymlink(p: string): Promise<boolean> {
  try {
    return (await lstat(p)).isSymbolicLink();
  } catch {
    return false;
  }
}

function kindOf(value: unknown): string {
  if (Array.isArray(value)) return "a list";
  if (value === null) return "nothing";
  if (typeof value === "object") return "a block of fields";
  return `${typeof value} ${JSON.stringify(value)}`;
}

function lineAt(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** A field that must be one of `allowed`: its value (undefined when absent), or why it is refused. */
function choice<T extends string>(value: unknown, key: string, allowed: readonly T[]): { ok: true; value: T | undefined } | { ok: false; reason: string } {
  if (value === undefined) return { ok: true, value: undefined };
  const known = allowed.find((a) => a === value);
  return known !== undefined ? { ok: true, value: known } : fail(`${key}: unknown value ${JSON.stringify(value)} (allowed: ${allowed.join(", ")})`);
}

function fail(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}
