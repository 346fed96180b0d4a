/**
 * The `inbox/<id>.md.delegated` marker (contract §4): the task's text with a `delegation:` block added as the last
 * field of its frontmatter. The block is written in two states:
 *   submitting — `{provider, requested_at, idempotency_key}`: written before the job is submitted (the write-ahead
 *                record; the key is the one the submit carries, so a job it made can be found again);
 *   submitted  — `{job_id, provider, submitted_at}`: written once the service has answered with the job id.
 * The rest of the file is the task, byte for byte: the block is inserted, never re-serialised from YAML.
 */
import { isDeepStrictEqual } from "node:util";
import { z } from "zod";
import { formatIso } from "../queue/footer.js";
import { parseFrontmatterFields, splitFrontmatter } from "../queue/frontmatter.js";
import { IDEMPOTENCY_KEY_PATTERN, JOB_ID_PATTERN } from "./client.js";
import { DELEGATED_PROVIDERS, type DelegatedProvider } from "./router.js";

export type MarkerBlock =
  | { state: "submitting"; provider: DelegatedProvider; requestedAt: number; idempotencyKey?: string }
  | { state: "submitted"; jobId: string; provider: DelegatedProvider; submittedAt: number };

const instant = z.string().refine((s) => !Number.isNaN(Date.parse(s)), "expected an ISO-8601 instant");
const provider = z.enum(DELEGATED_PROVIDERS as [DelegatedProvider, ...DelegatedProvider[]]);
const submittedSchema = z.object({ job_id: z.string().regex(JOB_ID_PATTERN, "not a valid job id"), provider, submitted_at: instant });
const submittingSchema = z.object({ provider, requested_at: instant, idempotency_key: z.string().regex(IDEMPOTENCY_KEY_PATTERN, "not a valid idempotency key").optional() });

export type MarkResult = { ok: true; text: string } | { ok: false; reason: string };
export type MarkerRead = { ok: true; block: MarkerBlock } | { ok: false; reason: string };

/**
 * The task text with `block` as its frontmatter's `delegation:` field (replacing one already there, e.g. a task
 * put back from failed/). The result is parsed again and must give the same fields and prompt plus the block;
 * when it does not (an unusual frontmatter layout), the task is not marked and runs locally instead.
 */
export function markTask(raw: string, block: MarkerBlock): MarkResult {
  const bom = raw.startsWith("\uFEFF") ? "\uFEFF" : "";
  const split = splitFrontmatter(raw);
  const eol = /^\uFEFF?---\r\n/.test(raw) ? "\r\n" : "\n";
  const lines = formatBlock(block, eol);
  let text: string;
  let before: Record<string, unknown> = {};
  if (split.yaml === undefined) {
    text = `${bom}---${eol}${lines}---${eol}${split.body}`;
  } else {
    const parsed = parseFrontmatterFields(split.yaml, split.yamlFirstLine);
    if (!parsed.ok) return { ok: false, reason: parsed.reason };
    before = parsed.fields;
    const yamlStart = bom.length + (eol === "\r\n" ? 5 : 4);
    const closerStart = yamlStart + split.yaml.length;
    const yaml = Object.hasOwn(before, "delegation") ? removeTopLevelKey(split.yaml, "delegation") : split.yaml;
    const joined = yaml === "" || yaml.endsWith("\n") ? yaml : `${yaml}${eol}`;
    text = `${raw.slice(0, yamlStart)}${joined}${lines}${raw.slice(closerStart)}`;
  }
  const after = splitFrontmatter(text);
  const reparsed = after.yaml === undefined ? undefined : parseFrontmatterFields(after.yaml, after.yamlFirstLine);
  if (!reparsed?.ok) return { ok: false, reason: "the frontmatter could not take a delegation block" };
  const { delegation, ...rest } = reparsed.fields;
  const { delegation: _old, ...expected } = before;
  if (!isDeepStrictEqual(rest, expected) || after.body !== split.body || !isDeepStrictEqual(readBlock(delegation), { ok: true, block: toSeconds(block) })) {
    return { ok: false, reason: "the frontmatter could not take a delegation block without changing the task" };
  }
  return { ok: true, text };
}

/** The `delegation:` block of a marker's text, validated; `ok: false` with the problem otherwise. */
export function readMarker(text: string): MarkerRead {
  const split = splitFrontmatter(text);
  if (split.yaml === undefined) return { ok: false, reason: "it has no frontmatter, so no delegation block" };
  const parsed = parseFrontmatterFields(split.yaml, split.yamlFirstLine);
  if (!parsed.ok) return parsed;
  if (!Object.hasOwn(parsed.fields, "delegation")) return { ok: false, reason: "its frontmatter has no delegation block" };
  return readBlock(parsed.fields.delegation);
}

function readBlock(value: unknown): MarkerRead {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return { ok: false, reason: "delegation: expected a block of fields" };
  // A job_id that is there but wrong is a broken marker, never a "not yet submitted" one.
  if (Object.hasOwn(value, "job_id")) {
    const r = submittedSchema.safeParse(value);
    if (!r.success) return { ok: false, reason: describe(r.error) };
    return { ok: true, block: { state: "submitted", jobId: r.data.job_id, provider: r.data.provider, submittedAt: Date.parse(r.data.submitted_at) } };
  }
  const r = submittingSchema.safeParse(value);
  if (!r.success) return { ok: false, reason: describe(r.error) };
  const key = r.data.idempotency_key;
  return { ok: true, block: { state: "submitting", provider: r.data.provider, requestedAt: Date.parse(r.data.requested_at), ...(key === undefined ? {} : { idempotencyKey: key }) } };
}

// The block holds instants to the second, as the footer and status.json do.
function toSeconds(block: MarkerBlock): MarkerBlock {
  const s = (ms: number): number => Math.floor(ms / 1000) * 1000;
  return block.state === "submitted" ? { ...block, submittedAt: s(block.submittedAt) } : { ...block, requestedAt: s(block.requestedAt) };
}

function formatBlock(block: MarkerBlock, eol: string): string {
  const fields: [string, string][] = block.state === "submitted"
    ? [["job_id", block.jobId], ["provider", block.provider], ["submitted_at", formatIso(block.submittedAt)]]
    : [["provider", block.provider], ["requested_at", formatIso(block.requestedAt)], ...(block.idempotencyKey === undefined ? [] : [["idempotency_key", block.idempotencyKey] as [string, string]])];
  // JSON strings are YAML double-quoted scalars; the values are ids, provider names and instants.
  return `delegation:${eol}${fields.map(([k, v]) => `  ${k}: ${JSON.stringify(v)}${eol}`).join("")}`;
}

/** Removes `key:` at column 0 and the indented, blank or comment lines that belong to it. */
function removeTopLevelKey(yaml: string, key: string): string {
  const lines = yaml.split(/(?<=\n)/);
  const out: string[] = [];
  let skipping = false;
  for (const line of lines) {
    if (new RegExp(`^${key}[ \\t]*:`).test(line)) {
      skipping = true;
      continue;
    }
    if (skipping && /^([ \t]|\r?\n$|#)/.test(line)) continue;
    skipping = false;
    out.push(line);
  }
  return out.join("");
}

function describe(error: z.ZodError): string {
  const issue = error.issues[0];
  return `delegation${issue && issue.path.length > 0 ? `.${issue.path.join(".")}` : ""}: ${issue?.message ?? "invalid"}`;
}
