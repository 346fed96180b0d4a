/**
 * Issue 9, with the real Claude Code CLI through the running daemon: a task whose text holds the
 * end-of-paste sequence reaches the model as one prompt and runs nothing (S5); and the account's
 * token, given through its env, is on no pane's scrollback and no process's command line.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { access } from "node:fs/promises";
import path from "node:path";
import type { Daemon } from "../../src/daemon/daemon.js";
import { until } from "../support/until.js";
import { startSandboxDaemon, type ClaudeSandbox } from "../support/claude-sandbox.js";

let sb: ClaudeSandbox;
let daemon: Daemon;

before(async () => {
  ({ sb, daemon } = await startSandboxDaemon({ label: "paste", projects: ["alpha"], pool: { min: 1, max: 1 } }));
});

after(async () => {
  await daemon?.stop();
  await sb?.close();
});

test("ESC[201~ in a task ends no paste: one prompt with the text before and after, no ! command run; no secret on screen or in ps", async () => {
  const marker = path.join(sb.dir, "bash-mode-ran");
  await sb.drop("alpha", "esc.md", `TOKEN-PASTE-BEFORE the first part\x1b[201~\n!touch ${marker}\nTOKEN-PASTE-AFTER the last part\n`);
  await until("the task filed", async () => ((await sb.files("alpha", "done")).length + (await sb.files("alpha", "failed")).length > 0 ? true : undefined),
    120_000, { explain: () => sb.evidence(["paste-1"]) });
  assert.deepEqual(await sb.files("alpha", "done"), ["esc.md"]);
  const turns = sb.api.requests.filter((r) => r.kind === "turn" && r.lastUserText?.includes("TOKEN-PASTE"));
  assert.ok(turns.length >= 1, "the prompt reached the model");
  for (const r of turns) {
    assert.ok(r.lastUserText!.includes("TOKEN-PASTE-BEFORE") && r.lastUserText!.includes("TOKEN-PASTE-AFTER"), `one prompt, whole: ${JSON.stringify(r.lastUserText)}`);
    assert.ok(r.lastUserText!.includes(`!touch ${marker}`), "the ! line is text of the prompt");
  }
  await assert.rejects(access(marker), /ENOENT/, "no bash-mode command ran");
  const done = await sb.read("alpha", "done", "esc.md");
  assert.match(done, /\nprompt_changed: 1 control sequence or character removed before pasting\n/);

  // The account's token (accounts[].env) was given to the agent, never typed.
  // 2.1.332 redraws the whole screen while it runs: the launch line shows again once the recycle ended the agent.
  const scrollback = await until("the launch line on the scrollback (the agent ended by the recycle)", async () => {
    const text = (await sb.tmux.run(["capture-pane", "-p", "-J", "-S", "-", "-t", "=paste-1:"])).stdout;
    return /--session-id [0-9a-f-]{36}/.test(text) ? text : undefined;
  }, 60_000, { explain: () => sb.evidence(["paste-1"]) });
  assert.equal(scrollback.includes("token-main"), false, "the token is on the scrollback");
  assert.equal(execFileSync("ps", ["-eo", "args"]).toString().includes("token-main"), false, "the token is on a command line");
});
