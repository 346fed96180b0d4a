import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { mkdtemp, mkdir, readFile, rm, stat, symlink, writeFile, readdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import {
  buildLaunchCommand, hookSettings, HOOK_EVENTS, isValidSessionId, LaunchError, prepareAccountHome, toShellLine,
  type LaunchSpec,
} from "./launch.js";

const ID = "0f8fad5b-d9cb-469f-a165-70867728950e";
const base: LaunchSpec = { command: "claude", args: ["--dangerously-skip-permissions"], home: "/home/ops/.claude-main", sessionId: ID, settingsFile: "/var/lib/cf/hooks.json" };

const tmpRoots: string[] = [];
async function tmp(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "cf-launch-"));
  tmpRoots.push(dir);
  return dir;
}
after(async () => {
  for (const dir of tmpRoots) await rm(dir, { recursive: true, force: true });
});

describe("buildLaunchCommand", () => {
  test("a fresh session: CLAUDE_CONFIG_DIR, operator args, --session-id, --settings", () => {
    const cmd = buildLaunchCommand({ ...base, env: { FOO: "bar" } });
    assert.deepEqual(cmd.argv, ["claude", "--dangerously-skip-permissions", "--session-id", ID, "--settings", "/var/lib/cf/hooks.json"]);
    assert.deepEqual(cmd.env, { FOO: "bar", CLAUDE_CONFIG_DIR: "/home/ops/.claude-main" });
  });

  test("resume replaces --session-id with --resume", () => {
    const cmd = buildLaunchCommand({ ...base, resume: true });
    assert.deepEqual(cmd.argv, ["claude", "--dangerously-skip-permissions", "--resume", ID, "--settings", "/var/lib/cf/hooks.json"]);
    assert.equal(cmd.argv.includes("--session-id"), false);
  });

  test("CLAUDE_CONFIG_DIR is always the account home, even if the env names another", () => {
    assert.equal(buildLaunchCommand({ ...base, env: { CLAUDE_CONFIG_DIR: "/elsewhere" } }).env.CLAUDE_CONFIG_DIR, "/home/ops/.claude-main");
  });

  test("as root with --dangerously-skip-permissions, IS_SANDBOX=1 is added unless set", () => {
    assert.equal(buildLaunchCommand({ ...base, runningAsRoot: true }).env.IS_SANDBOX, "1");
    assert.equal(buildLaunchCommand({ ...base, runningAsRoot: true, env: { IS_SANDBOX: "0" } }).env.IS_SANDBOX, "0");
    assert.equal(buildLaunchCommand({ ...base, runningAsRoot: false }).env.IS_SANDBOX, undefined);
    assert.equal(buildLaunchCommand({ ...base, args: [], runningAsRoot: true }).env.IS_SANDBOX, undefined);
  });

  const badIds: [string, string][] = [
    ["empty", ""],
    ["35 chars", ID.slice(1)],
    ["37 chars", `${ID}a`],
    ["non-hex letter", ID.replace("f", "g")],
    ["dashes misplaced", "0f8fad5bd-9cb-469f-a165-70867728950e"],
    ["shell injection", "0f8fad5b-d9cb-469f-a165-7086772895;x"],
    ["newline", `${ID.slice(0, 35)}\n`],
    ["option-looking", "--dangerously-skip-permissions-00000"],
  ];
  for (const [label, id] of badIds) {
    test(`refuses a session id that is not a UUID: ${label}`, () => {
      assert.throws(() => buildLaunchCommand({ ...base, sessionId: id }), (e: unknown) => e instanceof LaunchError && e.code === "LAUNCH_BAD_SESSION_ID");
      assert.throws(() => buildLaunchCommand({ ...base, sessionId: id, resume: true }), LaunchError);
    });
  }

  test("accepts upper-case hex", () => {
    assert.equal(isValidSessionId(ID.toUpperCase()), true);
  });

  for (const arg of ["--resume", "-r", "--continue", "-c", "--session-id", "--settings", "--settings=/x.json", "--fork-session"]) {
    test(`refuses operator args that fight the daemon's own: ${arg}`, () => {
      assert.throws(() => buildLaunchCommand({ ...base, args: ["--verbose", arg] }), (e: unknown) => e instanceof LaunchError && e.code === "LAUNCH_CONFLICTING_ARG");
    });
  }

  test("refuses relative paths, an empty command and bad env names", () => {
    assert.throws(() => buildLaunchCommand({ ...base, home: "claude-main" }), /absolute/);
    assert.throws(() => buildLaunchCommand({ ...base, settingsFile: "hooks.json" }), /absolute/);
    assert.throws(() => buildLaunchCommand({ ...base, command: " " }), /empty/);
    assert.throws(() => buildLaunchCommand({ ...base, env: { "A=B": "x" } }), /environment variable name/);
  });

  test("toShellLine quotes every word so /bin/sh reads back exactly the argv and env", () => {
    const words = buildLaunchCommand({ ...base, command: "printf", args: ["%s\\n", "a b", "$(touch /nonexistent/x)", "it's"] });
    assert.deepEqual(execFileSync("/bin/sh", ["-c", toShellLine(words)]).toString().trimEnd().split("\n"), words.argv.slice(2));
    const script = path.join(mkdtempSync(path.join(os.tmpdir(), "cf-launch-")), "show-env.sh");
    tmpRoots.push(path.dirname(script));
    writeFileSync(script, 'printf "%s|%s" "$CLAUDE_CONFIG_DIR" "$NOTE"\n');
    const env = buildLaunchCommand({ ...base, home: "/tmp/it's home", command: "sh", args: [script], env: { NOTE: "a b $(x)" } });
    assert.equal(execFileSync("/bin/sh", ["-c", toShellLine(env)]).toString(), "/tmp/it's home|a b $(x)");
  });
});

describe("prepareAccountHome", () => {
  test("a missing home is created with what an unattended start needs", async () => {
    const root = await tmp();
    const home = path.join(root, "home");
    const cwd = path.join(root, "proj");
    await mkdir(cwd);
    const result = await prepareAccountHome({ home, cwd, version: "2.1.197", apiKey: "sk-ant-api03-abcdefghijklmnopqrstuvwxyz" });
    const config = JSON.parse(await readFile(path.join(home, ".claude.json"), "utf8")) as Record<string, unknown>;
    assert.deepEqual(config, {
      hasCompletedOnboarding: true,
      lastOnboardingVersion: "2.1.197",
      projects: { [cwd]: { hasTrustDialogAccepted: true } },
      customApiKeyResponses: { approved: ["ghijklmnopqrstuvwxyz"], rejected: [] },
    });
    const settings = JSON.parse(await readFile(path.join(home, "settings.json"), "utf8")) as Record<string, unknown>;
    assert.deepEqual(settings, { theme: "dark", skipDangerousModePermissionPrompt: true });
    assert.equal((await stat(home)).mode & 0o777, 0o700);
    assert.equal((await stat(path.join(home, ".claude.json"))).mode & 0o777, 0o600);
    assert.ok(result.changed.length >= 5);
  });

  test("agents launched side by side in different folders: every folder's trust is kept", async () => {
    const root = await tmp();
    const home = path.join(root, "home");
    const cwds = Array.from({ length: 6 }, (_, i) => path.join(root, `proj-${i}`));
    for (const cwd of cwds) await mkdir(cwd);
    await Promise.all(cwds.map((cwd) => prepareAccountHome({ home, cwd })));
    const config = JSON.parse(await readFile(path.join(home, ".claude.json"), "utf8")) as { projects: Record<string, { hasTrustDialogAccepted?: boolean }> };
    assert.deepEqual(cwds.filter((cwd) => config.projects[cwd]?.hasTrustDialogAccepted !== true), []);
    // A failed preparation does not hold up the next one for the same home.
    await assert.rejects(prepareAccountHome({ home: path.join(home, ".claude.json", "inside-a-file"), cwd: cwds[0]! }));
    await prepareAccountHome({ home, cwd: cwds[0]! });
  });

  test("merges: the operator's keys and values stay, only missing pieces are added", async () => {
    const home = await tmp();
    const cwd = await tmp();
    const original = {
      numStartups: 42,
      lastOnboardingVersion: "2.0.1",
      oauthAccount: { emailAddress: "ops@example.com" },
      projects: { [cwd]: { allowedTools: ["Bash"], history: [1] }, "/other": { hasTrustDialogAccepted: false } },
      customApiKeyResponses: { approved: ["keep-me"], rejected: ["nope"] },
    };
    await writeFile(path.join(home, ".claude.json"), JSON.stringify(original), { mode: 0o644 });
    await writeFile(path.join(home, "settings.json"), JSON.stringify({ theme: "light", model: "opus", hooks: { Stop: [] } }));
    await prepareAccountHome({ home, cwd, version: "2.1.197", apiKey: "sk-ant-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX" });
    const config = JSON.parse(await readFile(path.join(home, ".claude.json"), "utf8")) as typeof original & Record<string, unknown>;
    assert.equal(config.numStartups, 42);
    assert.equal(config.lastOnboardingVersion, "2.0.1");
    assert.deepEqual(config.oauthAccount, original.oauthAccount);
    assert.deepEqual(config.projects[cwd], { allowedTools: ["Bash"], history: [1], hasTrustDialogAccepted: true });
    assert.deepEqual(config.projects["/other"], { hasTrustDialogAccepted: false });
    assert.deepEqual(config.customApiKeyResponses, { approved: ["keep-me", "XXXXXXXXXXXXXXXXXXXX"], rejected: ["nope"] });
    assert.equal(config.hasCompletedOnboarding, true);
    const settings = JSON.parse(await readFile(path.join(home, "settings.json"), "utf8")) as Record<string, unknown>;
    assert.deepEqual(settings, { theme: "light", model: "opus", hooks: { Stop: [] }, skipDangerousModePermissionPrompt: true });
    assert.equal((await stat(path.join(home, ".claude.json"))).mode & 0o777, 0o644, "the file keeps its mode");
  });

  test("a second run changes nothing and rewrites nothing", async () => {
    const home = await tmp();
    const cwd = await tmp();
    await prepareAccountHome({ home, cwd, version: "2.1.197", apiKey: "sk-ant-abcdefghijklmnopqrstuvwxyz" });
    const m1 = (await stat(path.join(home, ".claude.json"))).mtimeMs;
    const again = await prepareAccountHome({ home, cwd, version: "2.1.197", apiKey: "sk-ant-abcdefghijklmnopqrstuvwxyz" });
    assert.deepEqual(again.changed, []);
    assert.equal((await stat(path.join(home, ".claude.json"))).mtimeMs, m1);
  });

  test("a cwd reached through a symlink is trusted under both names", async () => {
    const root = await tmp();
    await mkdir(path.join(root, "real"));
    await symlink(path.join(root, "real"), path.join(root, "link"));
    const home = path.join(root, "home");
    await prepareAccountHome({ home, cwd: path.join(root, "link") });
    const config = JSON.parse(await readFile(path.join(home, ".claude.json"), "utf8")) as { projects: Record<string, unknown> };
    assert.deepEqual(Object.keys(config.projects).sort(), [path.join(root, "link"), path.join(root, "real")].sort());
  });

  const malformed: [string, string, string][] = [
    ["truncated JSON", ".claude.json", '{"projects": {'],
    ["not an object", ".claude.json", "[1,2]"],
    ["projects is a string", ".claude.json", '{"projects": "oops"}'],
    ["approved is an object", ".claude.json", '{"customApiKeyResponses": {"approved": {}}}'],
    ["a project entry is a number", ".claude.json", '{"projects": {"CWD": 3}}'],
    ["settings is null", "settings.json", "null"],
    ["settings has a BOM-less binary blob", "settings.json", "\u0000\u0001\u0002"],
  ];
  for (const [label, file, text] of malformed) {
    test(`refuses, and leaves untouched, a malformed ${file}: ${label}`, async () => {
      const home = await tmp();
      const cwd = await tmp();
      const content = text.replace("CWD", cwd);
      await writeFile(path.join(home, file), content);
      await assert.rejects(prepareAccountHome({ home, cwd, apiKey: "sk-ant-abcdefghijklmnopqrstuvwxyz" }), (e: unknown) => e instanceof LaunchError && e.code === "CLAUDE_CONFIG_MALFORMED" && e.message.includes(file));
      assert.equal(await readFile(path.join(home, file), "utf8"), content);
      assert.deepEqual((await readdir(home)).filter((n) => n.endsWith(".tmp")), [], "no temp file is left behind");
    });
  }

  test("an empty file counts as an empty object", async () => {
    const home = await tmp();
    await writeFile(path.join(home, ".claude.json"), "");
    await prepareAccountHome({ home, cwd: home });
    const config = JSON.parse(await readFile(path.join(home, ".claude.json"), "utf8")) as Record<string, unknown>;
    assert.equal(config.hasCompletedOnboarding, true);
  });

  test("refuses a relative home", async () => {
    await assert.rejects(prepareAccountHome({ home: "rel/home", cwd: "/tmp" }), LaunchError);
  });
});

describe("hook settings", () => {
  test("every event runs the hook command with its name appended, shell-quoted", () => {
    const s = hookSettings(["/opt/claude failover/bin", "hook"]);
    assert.deepEqual(Object.keys(s.hooks), [...HOOK_EVENTS]);
    assert.deepEqual(s.hooks.Stop, [{ hooks: [{ type: "command", command: "'/opt/claude failover/bin' hook Stop", timeout: 10 }] }]);
    assert.equal((s.hooks.StopFailure[0] as { hooks: { command: string }[] }).hooks[0]!.command, "'/opt/claude failover/bin' hook StopFailure");
  });

  test("the command line splits back into the exact words under /bin/sh", () => {
    const words = ["/usr/bin/node", "--import", "file:///a b/tsx.mjs", "it's here", "$(touch /tmp/pwned)"];
    const command = (hookSettings(words).hooks.Notification[0] as { hooks: { command: string }[] }).hooks[0]!.command;
    const out = execFileSync("/bin/sh", ["-c", `set -- ${command}; printf '%s\\n' "$@"`]).toString();
    assert.deepEqual(out.trimEnd().split("\n"), [...words, "Notification"]);
  });

  test("an empty hook command is refused", () => {
    assert.throws(() => hookSettings([]), LaunchError);
  });
});
