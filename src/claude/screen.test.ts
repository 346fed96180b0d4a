import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { classifyScreen, type ScreenState, type ScreenVerdict } from "./screen.js";
import {
  EXPECTED,
  EXPECTED_332,
  FIXTURE_DIR,
  FIXTURE_NOW_332,
  fixtureFiles332,
  readFixture332,
  FIXTURE_NOW,
  fixtureFiles,
  plainName,
  readFixture,
  type Expected,
} from "./test-screens.js";

function classifyFixture(file: string): ScreenVerdict {
  return classifyScreen(readFixture(file), { now: FIXTURE_NOW, hostZone: "UTC" });
}

/** The verdict reduced to what the expectation table states. */
function summary(verdict: ScreenVerdict, expected: Expected): Expected {
  const out: Expected = { state: verdict.state, detail: verdict.detail };
  if (verdict.limit !== null) {
    out.limit = {
      kind: verdict.limit.kind,
      resetsAt: verdict.limit.resetsAt === null ? "none" : new Date(verdict.limit.resetsAt).toISOString(),
    };
    if (expected.limit?.waitOption !== undefined) out.limit.waitOption = verdict.limit.menu?.waitOption ?? null;
  }
  if (verdict.inputText !== undefined) out.inputText = verdict.inputText;
  return out;
}

describe("classifyScreen on the real Claude Code 2.1.332 captures", () => {
  for (const [file, expected] of Object.entries(EXPECTED_332)) {
    test(`2.1.332/${file} → ${expected.state} (${expected.detail})`, () => {
      const verdict = classifyScreen(readFixture332(file), { now: FIXTURE_NOW_332, hostZone: "UTC" });
      assert.deepEqual(summary(verdict, expected), expected);
    });
  }
  test("every 2.1.332 capture has an expectation, and every expectation a capture", () => {
    assert.deepEqual(fixtureFiles332(), Object.keys(EXPECTED_332).sort());
  });
});

describe("classifyScreen on the real Claude Code 2.1.197 captures", () => {
  for (const [file, expected] of Object.entries(EXPECTED)) {
    test(`${file} → ${expected.state} (${expected.detail})`, () => {
      assert.deepEqual(summary(classifyFixture(file), expected), expected);
    });
  }

  test("every capture in the fixture folder has an expectation, and every expectation a capture", () => {
    const plain = [...new Set(fixtureFiles().map(plainName))].sort();
    assert.deepEqual(plain, Object.keys(EXPECTED).sort());
  });

  for (const file of fixtureFiles().filter((f) => f.endsWith(".ansi.txt"))) {
    test(`${file} (escape codes kept) classifies exactly like its plain twin`, () => {
      assert.deepEqual(classifyFixture(file), classifyFixture(plainName(file)));
    });
  }

  test("the limit menu of 32 is read with its option numbers as shown", () => {
    const verdict = classifyFixture("32-oauth-pro-usage-limit-7d.txt");
    assert.deepEqual(verdict.limit?.menu, {
      options: [
        { number: 1, label: "Stop and wait for limit to reset" },
        { number: 2, label: "Upgrade your plan" },
      ],
      waitOption: 1,
    });
  });

  test("the matched banner is reported without the hint line under it", () => {
    const verdict = classifyFixture("30-oauth-usage-limit-5h.txt");
    assert.equal(verdict.limit?.text, "You've hit your session limit · resets 12:57am (UTC)");
  });

  test("CRLF line endings change nothing", () => {
    for (const file of Object.keys(EXPECTED)) {
      const crlf = readFixture(file).replace(/\n/g, "\r\n");
      const verdict = classifyScreen(crlf, { now: FIXTURE_NOW, hostZone: "UTC" });
      assert.deepEqual(verdict, classifyFixture(file), file);
    }
  });
});

const STATES: ScreenState[] = ["idle", "busy", "limit", "error", "dialog", "shell", "unknown"];

interface ReadmeRow {
  file: string;
  says: string;
}

function readmeRows(): ReadmeRow[] {
  const readme = readFileSync(path.join(FIXTURE_DIR, "README.md"), "utf8");
  const rows: ReadmeRow[] = [];
  for (const line of readme.split("\n")) {
    const match = /^\|\s*(\S+\.txt)\s*\|\s*(.+?)\s*\|\s*$/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined) rows.push({ file: match[1], says: match[2] });
  }
  return rows;
}

/** The states a README verdict allows ("busy or done" → busy, idle), or null for "see name" rows. */
function allowedStates(says: string): ScreenState[] | null {
  const words = /^(\w+)(?: or (\w+))?/.exec(says);
  const named = [words?.[1], words?.[2]]
    .map((w) => (w === "done" ? "idle" : w))
    .filter((w): w is ScreenState => STATES.includes(w as ScreenState));
  return named.length > 0 ? named : null;
}

describe("the expectations agree with the fixture README", () => {
  const rows = readmeRows();

  test("the README lists exactly the expected captures", () => {
    assert.deepEqual(rows.map((r) => r.file).sort(), Object.keys(EXPECTED).sort());
  });

  for (const { file, says } of rows) {
    const allowed = allowedStates(says);
    if (allowed !== null) {
      test(`${file}: README "${says.slice(0, 40)}" allows ${allowed.join(" or ")}`, () => {
        assert.ok(allowed.includes(classifyFixture(file).state), classifyFixture(file).state);
      });
    }
    if (/NOT a usage limit|not a usage limit|not quota/i.test(says)) {
      test(`${file}: README says not a usage limit`, () => {
        assert.notEqual(classifyFixture(file).state, "limit");
        assert.equal(classifyFixture(file).limit, null);
      });
    }
    const kind = /^limit: (\w+)/.exec(says)?.[1];
    if (kind !== undefined) {
      test(`${file}: README limit kind ${kind}`, () => {
        assert.equal(classifyFixture(file).limit?.kind, kind);
      });
    }
  }
});
