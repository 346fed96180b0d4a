import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { pino } from "pino";
import type { LaunchCommand } from "../claude/launch.js";
import { AgentError } from "../dispatch/errors.js";
import { bringBackDedicated, type BringBackDeps } from "./dedicated.js";

const ID = "5c6b2a9e-1f0d-4c3b-9a8e-7d6c5b4a3f21";

/** A dedicated session whose launches fail as `outcomes` says, in order (anything left: they start). */
function world(outcomes: (Error | "ok")[], transcripts: boolean[]) {
  const calls: string[] = [];
  const logged: { msg: string; screen?: string }[] = [];
  const log = pino({ level: "info" }, { write: (line: string) => void logged.push(JSON.parse(line) as { msg: string; screen?: string }) });
  const deps: BringBackDeps = {
    session: "ded", claudeSessionId: ID, log,
    exit: async () => void calls.push("exit"),
    hasTranscript: async () => transcripts.shift() ?? false,
    launchLine: async (resume): Promise<LaunchCommand> => ({ argv: ["claude", resume ? "--resume" : "--session-id", ID], env: {} }),
    launch: async (command) => {
      calls.push(`launch ${command.argv.slice(1).join(" ")}`);
      const next = outcomes.shift() ?? "ok";
      if (next !== "ok") throw next;
    },
    capture: async () => "\n  old line\n> \n\n  ? for shortcuts\n",
  };
  return { deps, calls, logged };
}

describe("bringBackDedicated", () => {
  test("an agent with a conversation is resumed; one without starts afresh under the same id", async () => {
    const a = world([], [true]);
    assert.deepEqual(await bringBackDedicated(a.deps), { resumed: true, tries: 1 });
    assert.deepEqual(a.calls, ["exit", `launch --resume ${ID}`]);
    const b = world([], [false]);
    assert.deepEqual(await bringBackDedicated(b.deps), { resumed: false, tries: 1 });
    assert.deepEqual(b.calls, ["exit", `launch --session-id ${ID}`]);
    assert.ok(b.logged.some((l) => /no conversation yet/.test(l.msg)));
  });

  test("a start that fails is tried once more from the exit, the transcript looked at again, the screen logged", async () => {
    const w = world([new AgentError("AGENT_START_TIMEOUT", "ded: Claude Code did not reach its prompt", "ded")], [false, true]);
    assert.deepEqual(await bringBackDedicated(w.deps), { resumed: true, tries: 2 });
    assert.deepEqual(w.calls, ["exit", `launch --session-id ${ID}`, "exit", `launch --resume ${ID}`]);
    const warning = w.logged.find((l) => /trying once more/.test(l.msg));
    assert.equal(warning?.screen, "  old line\n> \n  ? for shortcuts", "the screen's last lines, blank ones left out");
  });

  test("two failed starts: the second error is thrown (the swap warns); a failure that is not the agent's is not retried", async () => {
    const twice = world([new AgentError("AGENT_EXIT_TIMEOUT", "first", "ded"), new AgentError("AGENT_START_FAILED", "second", "ded")], []);
    await assert.rejects(bringBackDedicated(twice.deps), /second/);
    assert.equal(twice.calls.filter((c) => c === "exit").length, 2);
    const other = world([new Error("tmux: no server running")], []);
    await assert.rejects(bringBackDedicated(other.deps), /no server running/);
    assert.deepEqual(other.calls, ["exit", `launch --session-id ${ID}`]);
  });

  test("an exit that hangs counts as a failed try too", async () => {
    const w = world([], [true]);
    let exits = 0;
    w.deps.exit = async () => {
      if (++exits === 1) throw new AgentError("AGENT_EXIT_TIMEOUT", "ded: Claude Code did not exit after 9 Ctrl-C presses", "ded");
    };
    assert.deepEqual(await bringBackDedicated(w.deps), { resumed: true, tries: 2 });
    assert.equal(exits, 2);
  });
});
