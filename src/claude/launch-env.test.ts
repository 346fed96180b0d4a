import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmod, mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { privateTmux } from "../../test/support/tmux-server.js";
import { HookHub } from "../dispatch/hook-hub.js";
import { AgentDriver } from "../dispatch/agent-driver.js";
import { systemClock } from "../lib/clock.js";
import { silentLogger } from "../lib/logger.js";
import { tempDir } from "../lib/test-temp.js";
import { buildLaunchCommand, toShellLine } from "./launch.js";
import { envScript, LAUNCH_ENV_DIR, LaunchEnvFiles, typedLaunchLine } from "./launch-env.js";
import { classifyScreen } from "./screen.js";
import { FIXTURE_DIR } from "./test-screens.js";

const ID = "0f8fad5b-d9cb-469f-a165-70867728950e";
const SECRET = "sk-ant-oat01-SECRET-d41d8cd98f00b204e9800998ecf8427e";

describe("launch env files", () => {
  test("the account's environment is private: never on the launch line", () => {
    const launch = buildLaunchCommand({
      command: "claude", args: [], home: "/h/.claude-main", sessionId: ID, settingsFile: "/s/hooks.json",
      privateEnv: { CLAUDE_CODE_OAUTH_TOKEN: SECRET, CLAUDE_CONFIG_DIR: "/elsewhere" },
    });
    assert.deepEqual(launch.env, { CLAUDE_CONFIG_DIR: "/h/.claude-main" });
    assert.deepEqual(launch.privateEnv, { CLAUDE_CODE_OAUTH_TOKEN: SECRET });
    assert.equal(toShellLine(launch).includes(SECRET), false);
    assert.equal(typedLaunchLine(launch, "/st/launch-env/x.sh").includes(SECRET), false);
    assert.equal(typedLaunchLine(launch, "/st/launch-env/x.sh"), `CLAUDE_CONFIG_DIR=/h/.claude-main /bin/sh /st/launch-env/x.sh claude --session-id ${ID} --settings /s/hooks.json`);
  });

  test("the file is 0600 in a 0700 folder, exports the values, execs the argv and deletes itself", async () => {
    const state = await tempDir("cf-envf-");
    const files = new LaunchEnvFiles(state);
    const hostile = `it's "$(touch ${state}/pwned)" \`x\` \n second line`;
    const file = await files.write({ A_TOKEN: SECRET, HOSTILE: hostile });
    assert.equal(path.dirname(file), path.join(state, LAUNCH_ENV_DIR));
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(path.dirname(file))).mode & 0o777, 0o700);
    const out = execFileSync("/bin/sh", [file, "sh", "-c", 'printf "%s|%s" "$A_TOKEN" "$HOSTILE"']).toString();
    assert.equal(out, `${SECRET}|${hostile}`);
    await assert.rejects(stat(file), /ENOENT/);
    await assert.rejects(stat(path.join(state, "pwned")), /ENOENT/);
    assert.throws(() => envScript({ "A=B": "x" }), /environment variable name/);
  });

  test("a folder made too open is closed again; leftovers of a crash are cleared at start", async () => {
    const state = await tempDir("cf-envf-");
    await mkdir(path.join(state, LAUNCH_ENV_DIR), { mode: 0o755 });
    await chmod(path.join(state, LAUNCH_ENV_DIR), 0o755);
    const files = new LaunchEnvFiles(state);
    await files.write({ A: "1" });
    await files.write({ B: "2" });
    assert.equal((await stat(files.dir)).mode & 0o777, 0o700);
    assert.equal(await files.clear(), 2);
    assert.deepEqual(await readdir(files.dir), []);
    assert.equal(await new LaunchEnvFiles(path.join(state, "none")).clear(), 0);
  });
});

// Real tmux and bash: only a real pane's scrollback, bash's history file and `ps` can show the secret is not there.
describe("a launch with a secret in real tmux", () => {
  const tmux = privateTmux("envf");
  after(tmux.close);

  test("the agent gets the secret; no scrollback, history file or command line shows it", async () => {
    const dir = await tempDir("cf-envf-tmux-");
    const state = path.join(dir, "state");
    const got = path.join(dir, "got");
    // A stand-in for claude: records the variable it was given, draws an idle prompt, holds the terminal.
    const stub = path.join(dir, "claude");
    await writeFile(stub, `#!/bin/sh\nprintf '%s' "$CLAUDE_CODE_OAUTH_TOKEN" > '${got}'\ncat '${path.join(FIXTURE_DIR, "04-idle-first.txt")}'\nexec sleep 600\n`, { mode: 0o700 });
    const history = path.join(dir, "history");
    await tmux.client.newSession({ name: "envf", cwd: dir, env: { HISTFILE: history, PS1: "$ " }, command: ["bash", "--norc", "--noprofile", "-i"] });
    const driver = new AgentDriver({
      tmux: tmux.client, clock: systemClock, log: silentLogger(), classify: (c) => classifyScreen(c, { now: Date.now() }),
      signals: new HookHub(), envFiles: new LaunchEnvFiles(state),
    });
    const launch = buildLaunchCommand({ command: stub, args: [], home: path.join(dir, "home"), sessionId: ID, settingsFile: path.join(dir, "s.json"), privateEnv: { CLAUDE_CODE_OAUTH_TOKEN: SECRET } });
    await driver.launch("envf", dir, launch);
    assert.equal(await readFile(got, "utf8"), SECRET);
    const scrollback = (await tmux.client.run(["capture-pane", "-p", "-J", "-S", "-", "-t", "=envf:"])).stdout;
    assert.ok(scrollback.includes(`--session-id ${ID}`), scrollback);
    assert.equal(scrollback.includes(SECRET), false);
    assert.equal(execFileSync("ps", ["-eo", "args"]).toString().includes(SECRET), false);
    assert.deepEqual(await readdir(path.join(state, LAUNCH_ENV_DIR)), []);
    // bash writes its history when the session ends.
    await tmux.client.killSession("envf");
    let written = "";
    for (const until = Date.now() + 10_000; !written.includes(ID) && Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
      written = await readFile(history, "utf8").catch(() => "");
    }
    assert.ok(written.includes(ID), `the history file holds the launch line: ${written}`);
    assert.equal(written.includes(SECRET), false);
  });
});
