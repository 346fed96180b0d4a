import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { classifyScreen } from "../claude/screen.js";
import { readFixture } from "../claude/test-screens.js";
import type { HookEvent } from "../claude/hooks.js";
import { InstantClock } from "../lib/test-clock.js";
import { silentLogger } from "../lib/logger.js";
import { FakeTmuxClient } from "../tmux/fake.js";
import { AgentDriver, EXIT_ARMED } from "./agent-driver.js";
import { AgentError } from "./errors.js";
import { HookHub } from "./hook-hub.js";
import { FakeClaude, type FakeClaudeOptions } from "./test-fake-claude.js";

const ID = "0b9c3f4e-5d6a-4b7c-8d9e-0f1a2b3c4d5e";
const LAUNCH = { argv: ["claude", "--dangerously-skip-permissions", "--session-id", ID, "--settings", "/s/claude-settings.json"], env: { CLAUDE_CONFIG_DIR: "/h/.claude-main" } };

async function setup(options: Partial<FakeClaudeOptions> = {}) {
  const clock = new InstantClock();
  const hub = new HookHub();
  const fake = new FakeClaude({ emit: (e: HookEvent) => hub.record(e, clock.now()), ...options });
  const tmux = new FakeTmuxClient(() => clock.now());
  tmux.programFor = () => fake.program;
  await tmux.newSession({ name: "p1", cwd: "/" });
  const driver = new AgentDriver({ tmux, clock, log: silentLogger(), classify: (c) => classifyScreen(c, { now: clock.now() }), signals: hub });
  return { clock, hub, fake, tmux, driver };
}

describe("AgentDriver", () => {
  test("the fake's screens read as the real classifier expects", async () => {
    const { driver, tmux } = await setup();
    assert.equal((await driver.screen("p1")).state, "shell");
    await driver.launch("p1", "/work/x", LAUNCH);
    assert.equal((await driver.screen("p1")).state, "idle");
    await tmux.paste("p1", "a\nb\nc\nd");
    const pasted = await driver.screen("p1");
    assert.equal(pasted.state, "idle");
    assert.ok(pasted.inputText);
  });

  test("launch types one quoted line at the shell and waits for the idle prompt", async () => {
    const { driver, fake, tmux } = await setup();
    await driver.launch("p1", "/work/it's here", LAUNCH);
    assert.equal(fake.launches.length, 1);
    assert.equal(fake.launches[0]!.line, "cd '/work/it'\\''s here' && CLAUDE_CONFIG_DIR=/h/.claude-main claude --dangerously-skip-permissions --session-id " + ID + " --settings /s/claude-settings.json");
    assert.deepEqual(tmux.calls.filter((c) => c.op === "send-key").map((c) => c.key), ["C-u", "Enter"]);
  });

  test("a private environment goes through an env file: never typed; refused when there is nowhere to write it", async () => {
    const { driver, fake, tmux } = await setup();
    const secret = "sk-ant-oat01-never-typed";
    const launch = { ...LAUNCH, privateEnv: { CLAUDE_CODE_OAUTH_TOKEN: secret } };
    await assert.rejects(driver.launch("p1", "/w", launch), (e: unknown) => e instanceof AgentError && e.code === "AGENT_START_FAILED");
    assert.deepEqual(tmux.calls.filter((c) => c.op === "send-text" || c.op === "send-key"), [], "nothing typed");
    const files = new Map<string, Record<string, string>>();
    const withFiles = new AgentDriver({
      tmux, clock: new InstantClock(), log: silentLogger(), classify: (c) => classifyScreen(c, { now: 0 }), signals: new HookHub(),
      envFiles: {
        write: async (env) => (files.set(`/st/launch-env/${files.size}.sh`, { ...env }), `/st/launch-env/${files.size - 1}.sh`),
        remove: async (file) => void files.delete(file),
      },
    });
    await withFiles.launch("p1", "/w", launch);
    assert.equal(fake.launches[0]!.line, `cd /w && CLAUDE_CONFIG_DIR=/h/.claude-main /bin/sh /st/launch-env/0.sh claude --dangerously-skip-permissions --session-id ${ID} --settings /s/claude-settings.json`);
    assert.equal(tmux.calls.some((c) => c.text?.includes(secret)), false);
    assert.equal(files.size, 0, "the env file is removed once the launch is over");
  });

  test("submit pastes, then sends a separate Enter, and is confirmed by the hook", async () => {
    const { driver, fake, tmux } = await setup();
    await driver.launch("p1", "/w", LAUNCH);
    tmux.calls.length = 0;
    const prompt = "line one\nline two; $(rm -rf /) Enter C-c\nthree";
    await driver.submit("p1", prompt, ID);
    assert.deepEqual(fake.prompts.map((p) => p.prompt), [prompt]);
    const ops = tmux.calls.filter((c) => c.op !== "capture-pane" && c.op !== "pane-info").map((c) => c.op + (c.key ? `:${c.key}` : ""));
    assert.deepEqual(ops, ["paste", "send-key:Enter"]);
    assert.equal(tmux.calls.find((c) => c.op === "paste")?.text, prompt);
  });

  test("a swallowed Enter is noticed on screen and Enter is sent again", async () => {
    const { driver, fake, tmux } = await setup({ swallowEnters: 1 });
    await driver.launch("p1", "/w", LAUNCH);
    tmux.calls.length = 0;
    await driver.submit("p1", "one\ntwo\nthree\nfour", ID);
    assert.equal(fake.prompts.length, 1);
    assert.equal(tmux.calls.filter((c) => c.op === "send-key" && c.key === "Enter").length, 2);
  });

  test("a resumed session's old limit banner does not confirm a prompt still in the box: Enter again", async () => {
    const { driver, fake } = await setup({ behaviour: (p) => (p.includes("first") ? { kind: "limit" } : { kind: "reply" }), swallowEnters: 1, hooks: false });
    await driver.launch("p1", "/w", LAUNCH);
    await driver.submit("p1", "first, meets the limit", ID);
    assert.equal((await driver.screen("p1")).state, "limit");
    await driver.submit("p1", "continue", ID);
    assert.deepEqual(fake.prompts.map((p) => p.prompt), ["first, meets the limit", "continue"], "the swallowed Enter was sent again");
  });

  test("without hooks, a busy screen confirms the prompt", async () => {
    const { driver, fake } = await setup({ hooks: false });
    await driver.launch("p1", "/w", LAUNCH);
    await driver.submit("p1", "hello", ID);
    assert.equal(fake.prompts.length, 1);
  });

  test("a prompt never taken fails after 3 Enters", async () => {
    const { driver } = await setup({ swallowEnters: 99 });
    await driver.launch("p1", "/w", LAUNCH);
    await assert.rejects(driver.submit("p1", "x\ny\nz", ID), (e: unknown) => e instanceof AgentError && e.code === "PROMPT_NOT_ACCEPTED");
  });

  test("an agent that draws its prompt and then fails at start (no SessionStart) is not taken as started", async () => {
    const { driver, tmux } = await setup();
    // `--resume` of a session that never had a message: the real CLI draws its frame for a moment,
    // erases it, prints "No conversation found" and gives the shell back — no SessionStart hook.
    const s = tmux.sessions.get("p1")!;
    const frame = ["─".repeat(80), "❯\u00a0", "─".repeat(80), "  ? for shortcuts"];
    let holding = 0;
    s.program = {
      onText: (session, text) => {
        session.screen[session.screen.length - 1] += text;
      },
      onKey: (session, key) => {
        if (key === "C-u") session.screen[session.screen.length - 1] = "ops@host:~$ ";
        if (key !== "Enter") return;
        session.currentCommand = "claude";
        session.screen.push(...frame);
        holding = 6;
      },
      onCapture: (session) => {
        if (holding > 0 && --holding === 0) {
          session.currentCommand = "bash";
          session.screen.splice(-frame.length, frame.length, `No conversation found with session ID: ${ID}`, "ops@host:~$ ");
        }
      },
    };
    const resume = { ...LAUNCH, argv: LAUNCH.argv.map((a) => (a === "--session-id" ? "--resume" : a)) };
    await assert.rejects(driver.launch("p1", "/w", resume), (e: unknown) => e instanceof AgentError && e.code === "AGENT_START_FAILED");
  });

  test("a start-up dialog slow to go away is answered once: no stray key in the input box", async () => {
    const { driver, tmux } = await setup();
    const s = tmux.sessions.get("p1")!;
    const dialog = [
      " Accessing workspace:", " /w", "",
      " Quick safety check: Is this a project you created or one you trust?", "",
      " ❯ 1. Yes, I trust this folder", "   2. No, exit", "", " Enter to confirm · Esc to cancel",
    ];
    let input = "";
    let closing = -1;
    const draw = (session: typeof s, state: "dialog" | "idle") => {
      session.screen = state === "dialog" ? [...dialog] : ["─".repeat(80), `❯\u00a0${input}`, "─".repeat(80), "  ? for shortcuts"];
    };
    s.program = {
      onKey: (session, key) => {
        if (key === "Enter" && session.currentCommand === "bash") {
          session.currentCommand = "claude";
          draw(session, "dialog");
        } else if (key === "1" && closing === -1 && session.screen[0] === dialog[0]) {
          closing = 8; // the dialog stays on screen for 8 more looks
        } else if (session.currentCommand === "claude" && key.length === 1) {
          input += key;
        }
      },
      onCapture: (session) => {
        if (closing > 0 && --closing === 0) draw(session, "idle");
      },
    };
    await driver.launch("p1", "/w", LAUNCH);
    assert.deepEqual(tmux.calls.filter((c) => c.op === "send-key" && c.key === "1").length, 1);
    assert.equal(input, "");
    assert.equal((await driver.screen("p1")).state, "idle");
  });

  test("the 2.1.332 trust dialog (\"No, exit\" first, no numbers) is answered by moving to \"Yes\" and confirming", async () => {
    const { driver, tmux } = await setup();
    const s = tmux.sessions.get("p1")!;
    const options = ["No, exit", "Yes, I trust this folder"];
    let cursor = 0;
    const draw = (session: typeof s) => {
      session.screen = [
        " Accessing workspace:", " /w", "", " Quick safety check: Is this a project you created or one you trust?", "",
        ...options.map((o, i) => ` ${i === cursor ? "❯" : " "} ${o}`), "", " Enter to confirm · Esc to cancel",
      ];
    };
    let exited = false;
    s.program = {
      onKey: (session, key) => {
        if (key === "Enter" && session.currentCommand === "bash") {
          session.currentCommand = "claude";
          draw(session);
        } else if (session.screen.some((l) => l.includes("Quick safety check"))) {
          if (key === "Down" || key === "Up") cursor = Math.max(0, Math.min(options.length - 1, cursor + (key === "Down" ? 1 : -1)));
          if (key === "Enter" && cursor === 0) exited = true;
          if (key === "Enter" && cursor === 1) session.screen = ["─".repeat(80), "❯\u00a0", "─".repeat(80), "  ? for shortcuts"];
          else draw(session);
        }
      },
    };
    await driver.launch("p1", "/w", LAUNCH);
    assert.equal(exited, false, "never confirmed \"No, exit\"");
    assert.deepEqual(tmux.calls.filter((c) => c.op === "send-key" && c.key !== "C-u").map((c) => c.key).slice(1), ["Down", "Enter"]);
    assert.equal((await driver.screen("p1")).state, "idle");
  });

  test("without hooks, an agent holding its idle prompt for a few seconds counts as started", async () => {
    const { driver, clock } = await setup({ hooks: false });
    const t0 = clock.now();
    await driver.launch("p1", "/w", LAUNCH);
    assert.equal((await driver.screen("p1")).state, "idle");
    assert.ok(clock.now() - t0 >= 3_000, `${clock.now() - t0} ms`);
  });

  test("a launch that never reaches the prompt times out", async () => {
    const { driver, tmux } = await setup();
    await assert.rejects(driver.launch("p1", "/w", { argv: ["claude", "--version"], env: {} }), (e: unknown) => e instanceof AgentError && e.code === "AGENT_START_TIMEOUT");
    assert.ok(tmux.calls.length > 10);
  });

  test("exit on an empty box presses Ctrl-C twice back to back and waits for the shell, typing nothing", async () => {
    const { driver, tmux } = await setup();
    await driver.launch("p1", "/w", LAUNCH);
    const before = tmux.calls.length;
    await driver.exit("p1");
    assert.equal((await driver.screen("p1")).state, "shell");
    const calls = tmux.calls.slice(before);
    const keys = calls.filter((c) => c.op === "send-key" || c.op === "send-text").map((c) => c.key ?? c.text);
    assert.deepEqual(keys, ["C-c", "C-c"]);
    // No look between the two: a loaded machine cannot make the CLI's double-press window close.
    const first = calls.findIndex((c) => c.op === "send-key");
    assert.equal(calls[first + 1]?.op, "send-key");
  });

  test("exit when the footer already asks for the second Ctrl-C presses once", async () => {
    // The footer as the real CLI draws it (capture 54) is what the driver looks for.
    assert.match(readFixture("54-ctrl-c-twice-exit.txt"), EXIT_ARMED);
    const { driver, tmux } = await setup();
    await driver.launch("p1", "/w", LAUNCH);
    await tmux.sendKey("p1", "C-c");
    assert.match(await tmux.capturePane("p1"), /Press Ctrl-C again to exit/);
    const before = tmux.calls.length;
    await driver.exit("p1");
    assert.equal((await driver.screen("p1")).state, "shell");
    assert.deepEqual(tmux.calls.slice(before).filter((c) => c.op === "send-key").map((c) => c.key), ["C-c"]);
  });

  test("exit after a turn types /exit, and falls back to Ctrl-C when the agent stays", async () => {
    const { driver, tmux } = await setup();
    await driver.launch("p1", "/w", LAUNCH);
    await driver.submit("p1", "a task", ID);
    while ((await driver.screen("p1")).state !== "idle");
    await driver.exit("p1", undefined, { afterTurn: true });
    assert.equal((await driver.screen("p1")).state, "shell");
    assert.ok(tmux.calls.some((c) => c.op === "send-text" && c.text === "/exit"));
    assert.ok(!tmux.calls.some((c) => c.op === "send-key" && c.key === "C-c"));

    // An agent that ignores /exit (a turn still running queues it): Ctrl-C ends it.
    const other = await setup({ behaviour: () => ({ kind: "hang" }) });
    await other.driver.launch("p1", "/w", LAUNCH);
    await other.driver.submit("p1", "work forever", ID);
    await other.driver.exit("p1", undefined, { afterTurn: true });
    assert.equal((await other.driver.screen("p1")).state, "shell");
    assert.ok(other.tmux.calls.some((c) => c.op === "send-key" && c.key === "C-c"));
    assert.equal(other.fake.prompts.length, 1, "the queued /exit never went to the model");
  });

  test("exit with a prompt still in the box empties it and never submits it", async () => {
    const { driver, fake, tmux } = await setup();
    await driver.launch("p1", "/w", LAUNCH);
    await tmux.paste("p1", "a task\nwhose Enter never came");
    const before = tmux.calls.length;
    await driver.exit("p1");
    assert.equal((await driver.screen("p1")).state, "shell");
    assert.deepEqual(fake.prompts, [], "nothing reached the model");
    const typed = tmux.calls.slice(before).filter((c) => c.op === "send-key" || c.op === "send-text").map((c) => c.key ?? c.text);
    assert.deepEqual(typed, ["C-c", "C-c", "C-c"], "Ctrl-C only: empty the box, arm the exit, exit");
  });

  test("exit while the agent has not read a paste yet (a loaded machine) still submits nothing", async () => {
    const { driver, fake, tmux } = await setup({ inputLag: 3 });
    await driver.launch("p1", "/w", LAUNCH);
    await tmux.paste("p1", "pasted just before the daemon died\nsecond line");
    assert.equal((await driver.screen("p1")).inputText, undefined, "the box still looks empty");
    const before = tmux.calls.length;
    await driver.exit("p1");
    assert.equal((await driver.screen("p1")).state, "shell");
    assert.deepEqual(fake.prompts, []);
    const typed = tmux.calls.slice(before).filter((c) => c.op === "send-key" || c.op === "send-text").map((c) => c.key ?? c.text);
    assert.ok(typed.length >= 3 && typed.every((k) => k === "C-c"), `only Ctrl-C typed: ${JSON.stringify(typed)}`);
  });

  test("exit during a turn interrupts it, then ends the agent", async () => {
    const { driver, fake } = await setup({ behaviour: () => ({ kind: "hang" }) });
    await driver.launch("p1", "/w", LAUNCH);
    await driver.submit("p1", "work forever", ID);
    assert.equal((await driver.screen("p1")).state, "busy");
    await driver.exit("p1");
    assert.equal((await driver.screen("p1")).state, "shell");
    assert.equal(fake.prompts.length, 1);
  });

  test("an agent that ignores Ctrl-C ends in AGENT_EXIT_TIMEOUT after a bounded number of presses", async () => {
    const { driver, tmux } = await setup();
    await driver.launch("p1", "/w", LAUNCH);
    tmux.sessions.get("p1")!.program = {};
    await assert.rejects(driver.exit("p1"), (e: unknown) => e instanceof AgentError && e.code === "AGENT_EXIT_TIMEOUT");
    const presses = tmux.calls.filter((c) => c.op === "send-key" && c.key === "C-c").length;
    assert.ok(presses >= 2 && presses <= 10, `${presses} presses`);
  });
});
