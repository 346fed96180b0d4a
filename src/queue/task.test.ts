import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, mkdir, rm, symlink } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { coerceBoolean, MAX_TASK_BYTES, parseTask, type ParseResult } from "./task.js";

let base = "";
let projectDir = "";

before(async () => {
  base = await mkdtemp(path.join(os.tmpdir(), "cf-task-"));
  projectDir = path.join(base, "proj");
  await mkdir(path.join(projectDir, "sub"), { recursive: true });
  await symlink("/etc", path.join(projectDir, "etc-link"));
  await symlink(path.join(projectDir, "sub"), path.join(projectDir, "inner-link"));
  await symlink(path.join(base, "nowhere"), path.join(projectDir, "dangling"));
});
after(() => rm(base, { recursive: true, force: true }));

function parse(text: string | Uint8Array, fileName = "t1.md"): Promise<ParseResult> {
  const bytes = typeof text === "string" ? Buffer.from(text, "utf8") : text;
  return parseTask({ bytes, project: "alpha", projectDir, fileName });
}

async function ok(text: string | Uint8Array, fileName?: string) {
  const r = await parse(text, fileName);
  if (!r.ok) assert.fail(`expected a task, got: ${r.reason}`);
  return r.task;
}

async function reason(text: string | Uint8Array, fileName?: string): Promise<string> {
  const r = await parse(text, fileName);
  if (r.ok) assert.fail("expected a refusal");
  return r.reason;
}

describe("parseTask: accepted", () => {
  test("a file without frontmatter is all prompt, with the defaults", async () => {
    const t = await ok("Install the d2 CLI.\n");
    assert.deepEqual(t.meta, { cwd: projectDir, priority: "normal" });
    assert.equal(t.prompt, "Install the d2 CLI.");
    assert.equal(t.id, "t1");
    assert.equal(t.file, "t1.md");
    assert.equal(t.project, "alpha");
  });

  test("every field of contract §4", async () => {
    const text = [
      "---", "title: Install the d2 CLI", "cwd: sub", "timeout: 90m", "priority: high", "needs_claude_code: false",
      "preferred_ai: gpu", "allow_delegation: true", "complexity_hint: low", "---", "", "The prompt.", "",
    ].join("\n");
    const t = await ok(text);
    assert.deepEqual(t.meta, {
      title: "Install the d2 CLI", cwd: path.join(projectDir, "sub"), timeoutMs: 90 * 60_000, priority: "high",
      needs_claude_code: false, preferred_ai: "gpu", allow_delegation: true, complexity_hint: "low",
    });
    assert.equal(t.prompt, "The prompt.");
    assert.equal(t.raw, text);
  });

  test("CRLF line endings", async () => {
    const t = await ok("---\r\npriority: low\r\ntitle: x\r\n---\r\nDo it.\r\n");
    assert.equal(t.meta.priority, "low");
    assert.equal(t.meta.title, "x");
    assert.equal(t.prompt, "Do it.");
  });

  test("a UTF-8 BOM before the frontmatter is skipped for parsing and kept in raw", async () => {
    const text = "\uFEFF---\npriority: high\n---\nGo.\n";
    const t = await ok(text);
    assert.equal(t.meta.priority, "high");
    assert.equal(t.raw, text);
    assert.equal(t.prompt, "Go.");
  });

  for (const opener of ["---js", "---json", "--- ", "----"]) {
    test(`a ${JSON.stringify(opener)} opener is not frontmatter: the whole file is prompt, nothing evaluated`, async () => {
      const text = `${opener}\n{ "priority": "high", "x": require("child_process") }\n---\nbody\n`;
      const t = await ok(text);
      assert.equal(t.meta.priority, "normal");
      assert.equal(t.prompt, text.trimEnd());
    });
  }

  test("an unclosed frontmatter is all prompt", async () => {
    const t = await ok("---\npriority: high\nno closing line\n");
    assert.equal(t.meta.priority, "normal");
    assert.match(t.prompt, /^---\npriority: high/);
  });

  test("booleans are coerced leniently and the raw values are kept for the router", async () => {
    const t = await ok("---\nneeds_claude_code: \"no\"\nallow_delegation: yes\npreferred_ai: auto\n---\nx\n");
    assert.equal(t.meta.needs_claude_code, false);
    assert.equal(t.meta.allow_delegation, true);
    assert.deepEqual(t.frontmatter, { needs_claude_code: "no", allow_delegation: "yes", preferred_ai: "auto" });
  });

  test("worktree: true/false overrides the project's isolation; absent stays absent", async () => {
    assert.equal((await ok("---\nworktree: true\n---\nx\n")).meta.worktree, true);
    assert.equal((await ok("---\nworktree: no\n---\nx\n")).meta.worktree, false);
    assert.equal((await ok("x\n")).meta.worktree, undefined);
  });

  test("a field with no value is absent; a numeric title becomes text", async () => {
    const t = await ok("---\ntitle: 42\npriority:\ncwd:\n---\nx\n");
    assert.deepEqual(t.meta, { title: "42", cwd: projectDir, priority: "normal" });
  });

  test("cwd: absolute inside, ~-free relative, a link that stays inside, a missing folder inside", async () => {
    assert.equal((await ok(`---\ncwd: ${projectDir}/sub\n---\nx`)).meta.cwd, path.join(projectDir, "sub"));
    assert.equal((await ok("---\ncwd: sub/../sub/deeper\n---\nx")).meta.cwd, path.join(projectDir, "sub", "deeper"));
    assert.equal((await ok("---\ncwd: inner-link\n---\nx")).meta.cwd, path.join(projectDir, "inner-link"));
    assert.equal((await ok("---\ncwd: .\n---\nx")).meta.cwd, projectDir);
  });

  test("the delegation manager's block is accepted and kept", async () => {
    const t = await ok("---\nallow_delegation: true\ndelegation:\n  job_id: j1\n  provider: gpu\n---\nx\n");
    assert.deepEqual(t.frontmatter.delegation, { job_id: "j1", provider: "gpu" });
  });

  test("a file of exactly 1 MiB is accepted", async () => {
    const text = "a".repeat(MAX_TASK_BYTES);
    assert.equal((await ok(text)).prompt.length, MAX_TASK_BYTES);
  });
});

describe("parseTask: refused with a reason that names the problem", () => {
  const cases: { name: string; text: string | Uint8Array; file?: string; expect: RegExp }[] = [
    { name: "malformed YAML (with the file line)", text: "---\ntitle: ok\nb: c: d\n---\nx", expect: /^malformed YAML frontmatter at line 3: Nested mappings are not allowed/ },
    { name: "a duplicate field", text: "---\npriority: high\npriority: low\n---\nx", expect: /^malformed YAML frontmatter at line 3: Map keys must be unique/ },
    { name: "a tab-indented field", text: "---\n\ttitle: x\n---\nx", expect: /^malformed YAML frontmatter at line 2/ },
    { name: "a list instead of fields", text: "---\n- a\n- b\n---\nx", expect: /expected "field: value" lines, found a list/ },
    { name: "a plain value instead of fields", text: "---\njust words\n---\nx", expect: /found a plain value/ },
    { name: "a collection as a field name", text: "---\n? [a, b]\n: 1\n---\nx", expect: /field names must be plain words/ },
    { name: "a worktree value that is not a boolean", text: "---\nworktree: sometimes\n---\nx", expect: /^worktree: unknown value "sometimes" \(allowed: true or false/ },
    { name: "an unknown field", text: "---\nprio: high\n---\nx", expect: /^unknown field "prio" in the frontmatter \(known: title, cwd, timeout, priority/ },
    { name: "a YAML merge key (not enabled)", text: "---\n<<: {priority: high}\n---\nx", expect: /^unknown field "<<"/ },
    { name: "an unknown priority", text: "---\npriority: urgent\n---\nx", expect: /^priority: unknown value "urgent" \(allowed: high, normal, low\)$/ },
    { name: "a priority in capitals", text: "---\npriority: HIGH\n---\nx", expect: /^priority: unknown value "HIGH"/ },
    { name: "an unknown preferred_ai", text: "---\npreferred_ai: gpt\n---\nx", expect: /^preferred_ai: unknown value "gpt" \(allowed: claude-code, gpu, gemini, claude-api, auto\)$/ },
    { name: "an unknown complexity_hint", text: "---\ncomplexity_hint: 3\n---\nx", expect: /^complexity_hint: unknown value 3 \(allowed: low, medium, high\)$/ },
    { name: "a timeout that is no duration", text: "---\ntimeout: soon\n---\nx", expect: /^timeout: expected a duration such as 90m, 30s or 2h \(got "soon"\)$/ },
    { name: "a timeout without a unit", text: "---\ntimeout: 90\n---\nx", expect: /^timeout: expected a duration .*\(got 90\)$/ },
    { name: "a zero timeout", text: "---\ntimeout: 0s\n---\nx", expect: /^timeout: expected a duration/ },
    { name: "a boolean that is neither", text: "---\nallow_delegation: maybe\n---\nx", expect: /^allow_delegation: unknown value "maybe" \(allowed: true or false/ },
    { name: "a list as title", text: "---\ntitle: [a]\n---\nx", expect: /^title: expected text, found a list$/ },
    { name: "a non-text cwd", text: "---\ncwd: 12\n---\nx", expect: /^cwd: expected a path, found number 12$/ },
    { name: "a delegation value that is no block", text: "---\ndelegation: yes\n---\nx", expect: /^delegation: expected a block of fields/ },
    { name: "a JS function tag", text: "---\ntitle: !!js/function 'function(){}'\n---\nx", expect: /^unsupported YAML tag at line 2: Unresolved tag: tag:yaml.org,2002:js\/function$/ },
    { name: "a custom tag", text: "---\ntitle: !shell rm -rf /\n---\nx", expect: /^unsupported YAML tag at line 2/ },
    { name: "an alias bomb", text: `---\ntitle: &a x\ndelegation: {${Array.from({ length: 30 }, (_, i) => `k${i}: *a`).join(", ")}}\n---\nx`, expect: /^malformed YAML frontmatter: Excessive alias count/ },
    { name: "an empty file", text: "", expect: /^the file is empty$/ },
    { name: "a whitespace-only file", text: " \n\t\n", expect: /^the file is empty$/ },
    { name: "a BOM-only file", text: "\uFEFF", expect: /^the file is empty$/ },
    { name: "a frontmatter-only file", text: "---\ntitle: nothing to do\n---\n", expect: /^the prompt is empty: nothing follows the frontmatter$/ },
    { name: "a frontmatter and blank lines", text: "---\ntitle: x\n---\n\n  \n", expect: /^the prompt is empty/ },
    { name: "latin-1 bytes", text: Buffer.from("titre\ncaf\xe9 cr\xe8me\n", "latin1"), expect: /^not UTF-8: invalid byte 0xE9 at offset 9 \(line 2\); save the file as UTF-8$/ },
    { name: "a NUL byte", text: "line one\nbinary\0here\n", expect: /^contains a NUL character at line 2/ },
    { name: "more than 1 MiB", text: Buffer.alloc(MAX_TASK_BYTES + 1, 0x61), expect: /^larger than 1 MiB \(1048577 bytes\)$/ },
    { name: "an id with a space", text: "x", file: "my task.md", expect: /^file name "my task.md" is not a valid task id: use only A-Z a-z 0-9 . _ -/ },
    { name: "an id with unicode", text: "x", file: "tâche.md", expect: /^file name "tâche.md" is not a valid task id/ },
    { name: "an id starting with a dot", text: "x", file: ".hidden.md", expect: /^file name ".hidden.md" is not a valid task id/ },
    { name: "a name not ending in .md", text: "x", file: "task.txt", expect: /does not end in \.md/ },
    { name: "cwd ../..", text: "---\ncwd: ../..\n---\nx", expect: /^cwd: "\.\.\/\.\." resolves to .*, outside the project directory / },
    { name: "cwd /etc", text: "---\ncwd: /etc\n---\nx", expect: /^cwd: "\/etc" resolves to \/etc, outside the project directory / },
    { name: "cwd sub/../../x", text: "---\ncwd: sub/../../x\n---\nx", expect: /outside the project directory/ },
    { name: "cwd ~ (the home, outside this project)", text: "---\ncwd: \"~\"\n---\nx", expect: /^cwd: "~" resolves to .*outside the project directory/ },
    { name: "cwd ~otheruser", text: "---\ncwd: ~root/x\n---\nx", expect: /names another user's home/ },
    { name: "cwd through a link to /etc", text: "---\ncwd: etc-link\n---\nx", expect: /^cwd: "etc-link" leads through a symbolic link to \/etc, outside/ },
    { name: "cwd below a link to /etc, not existing yet", text: "---\ncwd: etc-link/new/folder\n---\nx", expect: /leads through a symbolic link to \/etc\/new\/folder, outside/ },
    { name: "cwd through a dangling link", text: "---\ncwd: dangling/x\n---\nx", expect: /leads through .*dangling, a symbolic link to a missing target/ },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      assert.match(await reason(c.text, c.file), c.expect);
    });
  }
});

describe("coerceBoolean", () => {
  const table: [unknown, boolean | undefined][] = [
    [true, true], [false, false], [1, true], [0, false], ["true", true], ["TRUE", true], [" yes ", true], ["on", true], ["y", true], ["1", true],
    ["false", false], ["No", false], ["off", false], ["0", false], ["n", false], ["maybe", undefined], [2, undefined], [null, undefined], [[], undefined],
  ];
  for (const [input, expected] of table) {
    test(`${JSON.stringify(input)} → ${String(expected)}`, () => assert.equal(coerceBoolean(input), expected));
  }
});
