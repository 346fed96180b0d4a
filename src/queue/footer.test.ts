import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { FOOTER_MARKER, formatAppendix, formatFooter, formatIso, parseFooter } from "./footer.js";

const T0 = Date.UTC(2026, 3, 17, 2, 17, 19);
const T1 = Date.UTC(2026, 3, 17, 2, 31, 2, 500);

describe("footer", () => {
  test("done: every field in the contract's order, no reason", () => {
    const text = formatFooter("done", {
      session: "ccl-auto-12", account: "main", attempts: 1, startedAt: T0, finishedAt: T1,
      provider: "claude-code", costUsd: 0.42, claudeSessionId: "0b0e6a52-6a0d-4e0e-9f3c-3f1f2f7a9c11",
    });
    assert.equal(text, [
      FOOTER_MARKER, "status: done", "session: ccl-auto-12", "account: main", "attempts: 1",
      "started: 2026-04-17T02:17:19Z", "finished: 2026-04-17T02:31:02Z", "provider: claude-code", "cost_usd: 0.42",
      "claude_session_id: 0b0e6a52-6a0d-4e0e-9f3c-3f1f2f7a9c11", "",
    ].join("\n"));
  });

  test("a worktree task: branch, commit, base, diffstat (and a kept worktree) after the contract's §4 keys", () => {
    const text = formatFooter("failed", {
      session: "s1", attempts: 1, finishedAt: T1, provider: "claude-code", claudeSessionId: "id-1",
      branch: "cf/web/t1", commit: "a".repeat(40), base: "b".repeat(40), diffstat: "2 files changed, 3 insertions(+)", worktree: "/var/lib/cf/worktrees/web/t1",
    }, "timed out");
    assert.deepEqual(text.split("\n").map((l) => l.split(":")[0]), [
      FOOTER_MARKER, "status", "reason", "session", "attempts", "finished", "provider", "claude_session_id", "branch", "commit", "base", "diffstat", "worktree", "",
    ]);
    assert.deepEqual(parseFooter(text)?.diffstat, "2 files changed, 3 insertions(+)");
    assert.equal(parseFooter(text)?.branch, "cf/web/t1");
  });

  test("failed: the reason on one line right after the status; unknown fields left out", () => {
    const text = formatFooter("failed", { attempts: 0, finishedAt: T1 }, "bad frontmatter:\n  line 3");
    assert.equal(text, `${FOOTER_MARKER}\nstatus: failed\nreason: bad frontmatter: line 3\nattempts: 0\nfinished: 2026-04-17T02:31:02Z\n`);
  });

  test("prompt_changed, after the other keys, only when the task text had to change before pasting", () => {
    const text = formatFooter("done", { attempts: 1, finishedAt: T1, claudeSessionId: "x", promptChanged: "2 control sequences or characters removed before pasting" });
    assert.match(text, /\nclaude_session_id: x\nprompt_changed: 2 control sequences or characters removed before pasting\n$/);
    assert.equal(parseFooter(text)?.prompt_changed, "2 control sequences or characters removed before pasting");
    assert.equal(parseFooter(formatFooter("done", { attempts: 1, finishedAt: T1 }))?.prompt_changed, undefined);
  });

  test("a value can never start a new footer line", () => {
    const text = formatFooter("done", { attempts: 1, finishedAt: T1, session: "s\nstatus: failed" });
    assert.deepEqual(parseFooter(text), { status: "done", session: "s status: failed", attempts: "1", finished: "2026-04-17T02:31:02Z" });
  });

  test("a long reason is cut in the footer", () => {
    const reason = parseFooter(formatFooter("failed", { attempts: 1, finishedAt: T1 }, "x".repeat(1000)))!.reason!;
    assert.equal(reason.length, 300);
  });

  test("parseFooter reads the last footer, even when the result quotes the marker", () => {
    const original = "prompt\n";
    const result = `I wrote:\n${FOOTER_MARKER}\nstatus: failed\n`;
    const file = original + formatAppendix("done", result, { attempts: 2, finishedAt: T1 }, true);
    assert.equal(parseFooter(file)!.status, "done");
    assert.equal(parseFooter(file)!.attempts, "2");
    assert.equal(parseFooter("no footer here"), undefined);
  });

  test("the appendix: a Result or Failure section, separated from text that lacks its last newline", () => {
    assert.equal(
      formatAppendix("done", "All good.\n", { attempts: 1, finishedAt: T1 }, false),
      `\n\n## Result\n\nAll good.\n\n${FOOTER_MARKER}\nstatus: done\nattempts: 1\nfinished: 2026-04-17T02:31:02Z\n`,
    );
    assert.match(formatAppendix("failed", "", { attempts: 1, finishedAt: T1 }, true, "why"), /^\n## Failure\n\n\(no reason given\)\n\n/);
    assert.match(formatAppendix("done", "  ", { attempts: 1, finishedAt: T1 }, true), /## Result\n\n\(no result text\)\n/);
  });

  test("formatIso drops milliseconds", () => assert.equal(formatIso(T1), "2026-04-17T02:31:02Z"));
});
