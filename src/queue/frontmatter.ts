import { isMap, isScalar, LineCounter, parseDocument } from "yaml";

// Tasks are small; more aliases than this in a frontmatter is an expansion attack, not a task.
const MAX_ALIAS_COUNT = 20;

export interface SplitTask {
  /** The YAML between the `---` lines, or undefined when the file has no frontmatter. */
  yaml: string | undefined;
  /** The file line (1-based) on which the YAML starts, for error messages. */
  yamlFirstLine: number;
  /** Everything after the closing `---` line (or the whole text). */
  body: string;
}

const OPENER = /^---\r?\n/;
const CLOSER = /^---[ \t]*\r?$/;

/**
 * Splits frontmatter from body. Frontmatter exists only when the text starts with exactly `---\n` or `---\r\n`
 * (after an optional BOM) and a later line is `---`; anything else — `---js`, `---json`, an unclosed block —
 * is all prompt, so no opener ever selects another parser.
 */
export function splitFrontmatter(text: string): SplitTask {
  const start = text.startsWith("\uFEFF") ? 1 : 0;
  const opener = OPENER.exec(text.slice(start, start + 5));
  if (!opener) return { yaml: undefined, yamlFirstLine: 0, body: text.slice(start) };
  const yamlStart = start + opener[0].length;
  let lineStart = yamlStart;
  while (lineStart <= text.length) {
    const nl = text.indexOf("\n", lineStart);
    const lineEnd = nl === -1 ? text.length : nl;
    if (CLOSER.test(text.slice(lineStart, lineEnd))) {
      return {
        yaml: text.slice(yamlStart, lineStart),
        yamlFirstLine: 2,
        body: nl === -1 ? "" : text.slice(nl + 1),
      };
    }
    if (nl === -1) break;
    lineStart = nl + 1;
  }
  return { yaml: undefined, yamlFirstLine: 0, body: text.slice(start) };
}

export type FieldsResult = { ok: true; fields: Record<string, unknown> } | { ok: false; reason: string };

/**
 * Parses frontmatter YAML into plain values: YAML 1.2 core schema (no language-specific or custom tags,
 * so nothing is ever executed or constructed), unique keys, bounded aliases, text keys only.
 */
export function parseFrontmatterFields(yaml: string, firstLine: number): FieldsResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(yaml, {
    version: "1.2",
    schema: "core",
    merge: false,
    uniqueKeys: true,
    strict: true,
    prettyErrors: false,
    lineCounter,
  });
  const lineOf = (pos: readonly number[] | undefined): number => (pos ? lineCounter.linePos(pos[0] ?? 0).line : 1) + firstLine - 1;
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem) {
    const what = problem.code === "TAG_RESOLVE_FAILED" ? "unsupported YAML tag" : "malformed YAML frontmatter";
    return { ok: false, reason: `${what} at line ${lineOf(problem.pos)}: ${firstLineOf(problem.message)}` };
  }
  if (doc.contents === null) return { ok: true, fields: {} };
  if (!isMap(doc.contents)) {
    return { ok: false, reason: `malformed YAML frontmatter at line ${firstLine}: expected "field: value" lines, found a ${describeNode(doc.contents)}` };
  }
  for (const pair of doc.contents.items) {
    // Checked before toJS: a collection key would otherwise be stringified with a process warning.
    if (!isScalar(pair.key) || (typeof pair.key.value !== "string" && typeof pair.key.value !== "number")) {
      const pos = (pair.key as { range?: number[] } | null)?.range;
      return { ok: false, reason: `malformed YAML frontmatter at line ${lineOf(pos)}: field names must be plain words` };
    }
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    return { ok: false, reason: `malformed YAML frontmatter: ${firstLineOf(err instanceof Error ? err.message : String(err))}` };
  }
  return { ok: true, fields: value as Record<string, unknown> };
}

function firstLineOf(message: string): string {
  return message.split("\n", 1)[0]!.trim();
}

function describeNode(node: unknown): string {
  if (isScalar(node)) return "plain value";
  return "list";
}
