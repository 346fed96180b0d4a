import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseFrontmatterFields, splitFrontmatter } from "../queue/frontmatter.js";
import { markTask, readMarker, type MarkerBlock } from "./marker.js";

const at = Date.UTC(2026, 3, 17, 2, 17, 19);
const submitted: MarkerBlock = { state: "submitted", jobId: "job-42", provider: "gpu", submittedAt: at };
const submitting: MarkerBlock = { state: "submitting", provider: "gemini", requestedAt: at };

function marked(raw: string, block: MarkerBlock = submitted): string {
  const r = markTask(raw, block);
  assert.ok(r.ok, r.ok ? "" : r.reason);
  return r.text;
}

/** The marker with its block lines taken out: must be the task, byte for byte. */
function withoutBlock(text: string): string {
  return text.replace(/delegation:\r?\n(?: {2}[a-z_]+: "[^"]*"\r?\n)+/, "");
}

describe("markTask", () => {
  const tasks: [string, string][] = [
    ["frontmatter with comments and a block scalar", "---\ntitle: Install d2   # why not\npriority: high\nnotes: |\n  line one\n  line two\nallow_delegation: yes\npreferred_ai: gpu\n---\nInstall the d2 CLI.\n"],
    ["CRLF line endings", "---\r\ntitle: x\r\nallow_delegation: true\r\n---\r\nDo it.\r\n"],
    ["a BOM", "\uFEFF---\ntitle: x\n---\nbody\n"],
    ["an empty frontmatter", "---\n---\nbody\n"],
  ];
  for (const [name, raw] of tasks) {
    test(`keeps the task byte for byte: ${name}`, () => {
      const text = marked(raw);
      assert.equal(withoutBlock(text), raw);
      assert.deepEqual(readMarker(text), { ok: true, block: submitted });
    });
  }

  test("CRLF files get a CRLF block", () => {
    assert.match(marked(tasks[1]![1]), /delegation:\r\n {2}job_id: "job-42"\r\n/);
  });

  test("a task without frontmatter gets one, its text following unchanged", () => {
    const raw = "Just a prompt.\n---\nwith a rule in it\n";
    const text = marked(raw);
    assert.ok(text.endsWith(`---\n${raw}`));
    assert.equal(splitFrontmatter(text).body, raw);
  });

  test("an unclosed opener is prompt: a frontmatter is added before it", () => {
    const raw = "---\nnot closed\n";
    assert.equal(splitFrontmatter(marked(raw)).body, raw);
  });

  test("submitting → submitted replaces the block", () => {
    const raw = "---\ntitle: t\n---\nbody\n";
    const first = marked(raw, submitting);
    assert.deepEqual(readMarker(first), { ok: true, block: { ...submitting } });
    const second = marked(first, submitted);
    assert.equal(withoutBlock(second), raw);
    assert.deepEqual(readMarker(second), { ok: true, block: submitted });
  });

  test("an old delegation block (a task put back from failed/) is replaced, other fields kept", () => {
    const raw = "---\ntitle: t\ndelegation:\n  job_id: \"old\"\n  provider: \"auto\"\n  # note\n  submitted_at: \"2026-01-01T00:00:00Z\"\npriority: low\n---\nbody\n";
    const text = marked(raw);
    const fields = parseFrontmatterFields(splitFrontmatter(text).yaml!, 2);
    assert.ok(fields.ok);
    assert.deepEqual(Object.keys(fields.fields), ["title", "priority", "delegation"]);
    assert.deepEqual(readMarker(text), { ok: true, block: submitted });
  });

  test("instants are kept to the second", () => {
    const r = readMarker(marked("body\n", { ...submitted, submittedAt: at + 999 }));
    assert.deepEqual(r, { ok: true, block: submitted });
  });

  test("a frontmatter that does not parse is not marked", () => {
    const r = markTask("---\ntitle: [unclosed\n---\nbody\n", submitted);
    assert.equal(r.ok, false);
  });
});

describe("readMarker: bad markers", () => {
  const block = (fields: string) => `---\ntitle: t\ndelegation:\n${fields}---\nbody\n`;
  for (const [name, text, reason] of [
    ["no frontmatter", "just text\n", /no frontmatter/],
    ["broken YAML", "---\ntitle: [oops\ndelegation: {job_id: x\n---\nbody\n", /malformed YAML/],
    ["no delegation block", "---\ntitle: t\n---\nbody\n", /no delegation block/],
    ["delegation is a list", block("  - job-1\n"), /expected a block of fields/],
    ["a job id with path characters", block('  job_id: "../../etc/passwd"\n  provider: gpu\n  submitted_at: "2026-04-17T02:17:19Z"\n'), /delegation\.job_id: not a valid job id/],
    ["an unknown provider", block('  job_id: "j1"\n  provider: quantum\n  submitted_at: "2026-04-17T02:17:19Z"\n'), /delegation\.provider/],
    ["a submit time that is not one", block('  job_id: "j1"\n  provider: gpu\n  submitted_at: "yesterday"\n'), /delegation\.submitted_at: expected an ISO-8601 instant/],
    ["a submitting block without its time", block("  provider: gpu\n"), /delegation\.requested_at/],
  ] as const) {
    test(name, () => {
      const r = readMarker(text);
      assert.equal(r.ok, false);
      if (!r.ok) assert.match(r.reason, reason);
    });
  }
});
