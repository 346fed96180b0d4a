import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { classifyScreen, type ScreenState, type ScreenVerdict } from "./screen.js";
import { stripAnsi } from "./ansi.js";
import {
  EXPECTED,
  FIXTURE_NOW,
  buildScreen,
  colourize,
  readFixture,
  rewrap,
  type Expected,
  type Turn,
} from "./test-screens.js";

const OPTIONS = { now: FIXTURE_NOW, hostZone: "UTC" };
const STATES: ScreenState[] = ["idle", "busy", "limit", "error", "dialog", "shell", "unknown"];

/** What must survive a change of width or colour: state, detail, limit kind and reset time. */
function essence(verdict: ScreenVerdict): unknown {
  return {
    state: verdict.state,
    detail: verdict.detail,
    kind: verdict.limit?.kind ?? null,
    resetsAt: verdict.limit?.resetsAt ?? null,
    wait: verdict.limit?.menu?.waitOption ?? null,
  };
}

function expectedEssence(expected: Expected): unknown {
  return {
    state: expected.state,
    detail: expected.detail,
    kind: expected.limit?.kind ?? null,
    resetsAt: expected.limit === undefined ? null : Date.parse(expected.limit.resetsAt),
    wait: expected.limit?.waitOption ?? null,
  };
}

describe("the captures at other widths and with escape codes", () => {
  const variants: { name: string; make: (capture: string) => string }[] = [
    { name: "redrawn at 80 columns", make: (c) => rewrap(c, 80, "ink") },
    { name: "redrawn at 120 columns", make: (c) => rewrap(c, 120, "ink") },
    { name: "redrawn at 60 columns", make: (c) => rewrap(c, 60, "ink") },
    { name: "hard-wrapped by the terminal at 80 columns", make: (c) => rewrap(c, 80, "hard") },
    { name: "coloured, with cursor and title codes", make: colourize },
    { name: "redrawn at 80 columns and coloured", make: (c) => colourize(rewrap(c, 80, "ink")) },
  ];
  for (const { name, make } of variants) {
    describe(name, () => {
      for (const [file, expected] of Object.entries(EXPECTED)) {
        test(file, () => {
          assert.deepEqual(essence(classifyScreen(make(readFixture(file)), OPTIONS)), expectedEssence(expected));
        });
      }
    });
  }

  test("the 80-column redraw really wraps: lines are at most 80 wide and rules are 80", () => {
    const lines = rewrap(readFixture("26-500-final.txt"), 80, "ink").split("\n");
    assert.deepEqual(
      [Math.max(...lines.map((l) => l.length)), lines.filter((l) => /^─+$/.test(l)).map((l) => l.length)],
      [80, [80, 80]],
    );
  });

  test("colourize really adds escape codes that stripping removes", () => {
    const plain = readFixture("07-reply-done.txt");
    const coloured = colourize(plain);
    assert.notEqual(coloured, plain);
    assert.equal(stripAnsi(coloured).replace(/\s+$/gm, ""), plain.replace(/\s+$/gm, ""));
  });
});

describe("synthetic 1.0.x and 2.0.x screens", () => {
  const done: Turn = { prompt: "hi", output: ["● Hello."], done: "✻ Worked for 1s" };
  test("1.0.x framed box, idle with typed text", () => {
    const verdict = classifyScreen(
      buildScreen({ version: "1.0", turns: [done], input: "next task", width: 80 }),
      OPTIONS,
    );
    assert.deepEqual([verdict.state, verdict.detail, verdict.inputText], ["idle", "input-pending", "next task"]);
  });
  test("1.0.x spinner with 'esc to interrupt' inside it → busy", () => {
    const screen = buildScreen({
      version: "1.0",
      turns: [{ prompt: "hi", output: [] }],
      status: ["✻ Thinking… (3s · ↑ 12 tokens · esc to interrupt)"],
    });
    assert.equal(classifyScreen(screen, OPTIONS).state, "busy");
  });
  test("1.0.x placeholder in an empty box is not input", () => {
    const verdict = classifyScreen(
      buildScreen({ version: "1.0", turns: [], input: 'Try "how does <filepath> work?"' }),
      OPTIONS,
    );
    assert.deepEqual([verdict.state, verdict.detail, verdict.inputText], ["idle", "ready", undefined]);
  });
  test("2.0.x `>` box, limit banner at 80 columns wrapped under its text", () => {
    const screen = buildScreen({
      version: "2.0",
      width: 80,
      turns: [
        {
          prompt: "go",
          output: [
            "  ⎿  Weekly limit reached ∙ resets Dec 2, 7pm",
            "     (America/Argentina/Buenos_Aires) · /upgrade to Max 20x",
          ],
        },
      ],
    });
    const verdict = classifyScreen(screen, OPTIONS);
    assert.deepEqual(
      [verdict.state, verdict.limit?.kind, verdict.limit?.resetsAt],
      ["limit", "weekly", Date.UTC(2025, 11, 2, 22)],
    );
  });
});

describe("busy is a shape, not a word list", () => {
  const cases: { name: string; status: string[]; footer?: string; state: ScreenState; detail: string }[] = [
    {
      name: "a custom spinner verb",
      status: ["✽ Reticulating splines… (5s · ↓ 10 tokens)"],
      state: "busy",
      detail: "spinner",
    },
    { name: "`*` for ✳ on Linux", status: ["* Thinking…"], state: "busy", detail: "spinner" },
    {
      name: "the `·` frame of the spinner",
      status: ["· Frobnicating…", "  ⎿  Tip: use /memory"],
      state: "busy",
      detail: "spinner",
    },
    {
      name: "retrying an API error",
      status: ["✻ API error · Retrying in 5s · attempt 4/10"],
      state: "busy",
      detail: "retrying",
    },
    { name: "the past-tense line is not busy", status: ["✻ Crunched for 3s"], state: "idle", detail: "ready" },
    { name: "a verb with no ellipsis is not busy", status: ["✶ Crystallizing"], state: "idle", detail: "ready" },
    {
      name: "only the footer says so",
      status: [],
      footer: "  esc to interrupt · ← for agents",
      state: "busy",
      detail: "esc-to-interrupt",
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const screen = buildScreen({ turns: [{ prompt: "task", output: [] }], status: c.status, footer: c.footer });
      const verdict = classifyScreen(screen, OPTIONS);
      assert.deepEqual([verdict.state, verdict.detail], [c.state, c.detail]);
    });
  }
});

describe("shell: Claude Code has exited", () => {
  const idle = buildScreen({ turns: [] }).trimEnd();
  const cases: { name: string; screen: string; state: ScreenState; detail: string }[] = [
    {
      name: "a shell prompt under the last frame",
      screen: `${idle}\nroot@build-7:/work/proj# `,
      state: "shell",
      detail: "shell-prompt",
    },
    {
      name: "a prompt with a command typed",
      screen: `${idle}\nops@host:~/proj$ claude --resume`,
      state: "shell",
      detail: "shell-prompt",
    },
    {
      name: "only a prompt on a cleared screen",
      screen: "\n\n[ops@host proj]$ ",
      state: "shell",
      detail: "shell-prompt",
    },
    {
      name: "a dead pane",
      screen: `${idle}\nPane is dead (status 0, Thu Nov 27 10:00:00 2025)`,
      state: "shell",
      detail: "pane-dead",
    },
    {
      name: "a markdown heading is not a prompt",
      screen: "some text\n\n# Notes",
      state: "unknown",
      detail: "no-input-box",
    },
    {
      name: "the old trust wording",
      screen: "─".repeat(80) + "\n Do you trust the files in this folder?\n ❯ 1. Yes, proceed\n   2. No, exit",
      state: "dialog",
      detail: "trust-folder",
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const verdict = classifyScreen(c.screen, OPTIONS);
      assert.deepEqual([verdict.state, verdict.detail], [c.state, c.detail]);
    });
  }
});

describe("a recycled pane: the earlier agent's exit message lies above the agent running now", () => {
  const idle = buildScreen({ turns: [] }).trimEnd();
  const earlierExit = `${idle}\nResume this session with:\nclaude --resume af3dc636-c0fb-4ced-88c7-a2ba3a504380\nops@host:~/proj$ claude --session-id 9e343133-af03-4d52-be7e-cb92cfe22d45`;

  test("the new agent's limit menu (no input box on screen) is the limit, not the old exit (real capture)", () => {
    // A pool session recycled after a task, its next agent at the usage limit: the CLI opened
    // /rate-limit-options by itself. Read as a shell, a limit seen only on screen was never acted on.
    const capture = readFileSync(fileURLToPath(new URL("../../test/fixtures/screens/recycled-pane-limit-menu.txt", import.meta.url)), "utf8");
    const verdict = classifyScreen(capture, { now: Date.UTC(2026, 10, 27, 15, 25), hostZone: "UTC" });
    assert.deepEqual([verdict.state, verdict.detail, verdict.limit?.kind, verdict.limit?.menu?.waitOption], ["limit", "limit-menu", "session", 1]);
    assert.equal(verdict.limit?.resetsAt, Date.UTC(2026, 10, 27, 18, 21));
  });

  test("the new agent's start-up dialog is the dialog", () => {
    const screen = `${earlierExit}\n${"─".repeat(80)}\n Do you trust the files in this folder?\n ❯ 1. Yes, proceed\n   2. No, exit`;
    assert.deepEqual([classifyScreen(screen, OPTIONS).state, classifyScreen(screen, OPTIONS).detail], ["dialog", "trust-folder"]);
  });

  test("the new agent at its prompt is idle; the earlier agent's exit alone is still a shell", () => {
    assert.equal(classifyScreen(`${earlierExit}\n${idle}`, OPTIONS).state, "idle");
    const exited = classifyScreen(`${idle}\nResume this session with:\nclaude --resume af3dc636-c0fb-4ced-88c7-a2ba3a504380\nops@host:~/proj$ `, OPTIONS);
    assert.deepEqual([exited.state, exited.detail], ["shell", "resume-hint"]);
  });
});

const LIMIT_BANNERS = [
  "You've hit your session limit · resets 1:20am (Europe/Vienna)",
  "You've hit your weekly limit ∙ resets Dec 2, 7pm (Europe/Moscow)",
  "You're out of extra usage · resets 3pm",
  "5-hour limit reached · resets 2pm (Pacific/Auckland) · /upgrade to Max 20x or turn on /extra-usage",
  "Claude usage limit reached. Your limit will reset at 1pm (Etc/GMT+5).",
  "Claude AI usage limit reached|1749924000",
];

describe("properties", () => {
  const anyText = fc.oneof(
    fc.string({ unit: "binary", maxLength: 2_000 }),
    fc.uint8Array({ maxLength: 2_000 }).map((b) => Buffer.from(b).toString("utf8")),
    fc.array(fc.constantFrom(...Object.keys(EXPECTED)), { minLength: 1, maxLength: 3 }).chain((files) =>
      fc.tuple(fc.constant(files.map(readFixture).join("\n")), fc.nat(), fc.nat()).map(([text, a, b]) => {
        // Slices of real screens: cut anywhere, including inside a line or an escape sequence.
        const from = a % (text.length + 1);
        return text.slice(from, from + (b % 6_000));
      }),
    ),
  );

  test("no input throws, and every verdict is well-formed", () => {
    fc.assert(
      fc.property(
        anyText,
        fc.integer({ min: -1e16, max: 1e16 }),
        fc.constantFrom("UTC", "Europe/Berlin", "Nope/Zone", undefined),
        (text, now, hostZone) => {
          const verdict = classifyScreen(text, { now, hostZone });
          assert.ok(STATES.includes(verdict.state));
          assert.match(verdict.detail, /^[a-z0-9]+(?:-[a-z0-9]+)*$/);
          assert.equal(verdict.limit === null, verdict.state !== "limit");
          if (verdict.limit !== null) assert.ok(verdict.limit.text.length <= 120);
        },
      ),
      { numRuns: 300 },
    );
  });

  test("a limit banner in any earlier turn is history once a later turn succeeded", () => {
    const turn = fc.oneof(
      fc
        .constantFrom(...LIMIT_BANNERS)
        .map((b): Turn => ({ prompt: "work", output: [`  ⎿  ${b}`], done: "✻ Worked for 3s" })),
      fc.constant<Turn>({
        prompt: "work",
        output: ["● API Error: 500 Internal server error."],
        done: "✻ Baked for 3s",
      }),
      fc
        .string({ maxLength: 40 })
        .map((s) => s.replace(/\s/g, " "))
        .map((s): Turn => ({ prompt: `ask ${s}`, output: [`● ${s}`], done: "✻ Cooked for 1s" })),
    );
    fc.assert(
      fc.property(fc.array(turn, { maxLength: 6 }), fc.integer({ min: 40, max: 200 }), (earlier, width) => {
        const screen = buildScreen({
          width,
          turns: [...earlier, { prompt: "next", output: ["● Done."], done: "✻ Worked for 2s" }],
        });
        const verdict = classifyScreen(rewrap(screen, width, "ink"), OPTIONS);
        assert.deepEqual([verdict.state, verdict.limit], ["idle", null]);
      }),
    );
  });

  test("the same banner as the last turn's result is a limit, at any width", () => {
    fc.assert(
      fc.property(fc.constantFrom(...LIMIT_BANNERS), fc.integer({ min: 40, max: 200 }), (banner, width) => {
        const screen = buildScreen({
          width,
          turns: [{ prompt: "work", output: [`  ⎿  ${banner}`], done: "✻ Worked for 3s" }],
        });
        assert.equal(classifyScreen(rewrap(screen, width, "ink"), OPTIONS).state, "limit");
      }),
    );
  });

  test("a banner quoted inside a reply after other words is never a limit", () => {
    fc.assert(
      fc.property(fc.constantFrom(...LIMIT_BANNERS), fc.string({ minLength: 1, maxLength: 60 }), (banner, words) => {
        const prefix = `${words.replace(/\s+/g, " ").trim() || "note"} `;
        const screen = buildScreen({
          turns: [{ prompt: "explain", output: [`● ${prefix}${banner}`], done: "✻ Worked for 3s" }],
        });
        assert.notEqual(classifyScreen(screen, OPTIONS).state, "limit");
      }),
    );
  });

  test("only the capture's tail is read: 10 MB of junk before a screen changes nothing", () => {
    const junk = `${readFixture("30-oauth-usage-limit-5h.txt")}\n${"x".repeat(1_000)}\x1b[31m`.repeat(2_000);
    for (const file of ["07-reply-done.txt", "06-busy-spinner.txt", "32-oauth-pro-usage-limit-7d.txt"]) {
      const alone = classifyScreen(readFixture(file), OPTIONS);
      assert.deepEqual(classifyScreen(`${junk}\n${readFixture(file)}`, OPTIONS), alone, file);
    }
  });

  test("10 MB on one line, or of escape codes only, is unknown", () => {
    assert.equal(classifyScreen("y".repeat(10_000_000), OPTIONS).state, "unknown");
    assert.equal(classifyScreen("\x1b[38;5;2m\x1b]0;t\x07".repeat(500_000), OPTIONS).state, "unknown");
    assert.equal(classifyScreen("\x1b[38;5;2m\x1b]0;t\x07\n".repeat(5_000), OPTIONS).detail, "empty");
  });

  test("a stale idle frame left above a later dialog does not hide the dialog", () => {
    const screen = `${readFixture("07-reply-done.txt")}\n${readFixture("21-tool-permission-prompt.txt")}`;
    assert.deepEqual(essence(classifyScreen(screen, OPTIONS)), {
      state: "dialog",
      detail: "permission-prompt",
      kind: null,
      resetsAt: null,
      wait: null,
    });
  });

  test("the empty string and blank screens are unknown", () => {
    assert.deepEqual(
      ["", "\n\n\n", "   \n\t\n"].map((s) => classifyScreen(s, OPTIONS).detail),
      ["empty", "empty", "empty"],
    );
  });
});
