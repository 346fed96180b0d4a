/**
 * The real Claude Code CLI in real tmux (a private socket) against the mock model API, launched the
 * way the daemon launches it: prepareAccountHome + writeDaemonHookSettings + buildLaunchCommand. Hooks go
 * through test/support/hook-entry.ts (runHookCommand) to a receiver in this test, or to the spool.
 * The scenarios run side by side, one tmux session and one account home each.
 */
import { after, before, describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { access, constants, mkdir, mkdtemp, readdir, readFile, realpath, rm, stat, symlink } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { drainSpool, spoolDir, type DrainedEvent } from "../../src/claude/hook-client.js";
import { isUsageLimitFailure, parseHookEnvelope, type HookEvent } from "../../src/claude/hooks.js";
import { buildLaunchCommand, prepareAccountHome } from "../../src/claude/launch.js";
import { classifyScreen, type ScreenVerdict } from "../../src/claude/screen.js";
import { locateTranscript, readTranscript, sanitizeProjectPath, transcriptPath } from "../../src/claude/transcripts.js";
import { shellJoin, shellQuote } from "../../src/lib/shell-quote.js";
import { startMockModelApi, type MockModelApi } from "../support/mock-model-api.js";
import { privateTmux } from "../support/tmux-server.js";
import { CLAUDE_BIN, waitForProcessesGone } from "../support/claude-sandbox.js";
import { writeDaemonHookSettings } from "../../src/daemon/hook-settings.js";
import { AgentDriver } from "../../src/dispatch/agent-driver.js";
import { systemClock } from "../../src/lib/clock.js";
import { silentLogger } from "../../src/lib/logger.js";
import { until } from "../support/until.js";

const API_KEY = "sk-ant-api03-e2e-mock-key-0000000000000000000000";
const AUTH_VARS = ["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"];
const STEP_MS = 30_000;

let root: string;
let version: string;
let api: MockModelApi;
let tmux: ReturnType<typeof privateTmux>;
let receiver: { url: string; events: { event: HookEvent; context: Record<string, unknown> | undefined }[]; server: Server };

before(async () => {
  // A missing or broken binary fails every scenario here: it must never turn into a skip.
  await access(CLAUDE_BIN, constants.X_OK).catch((err: unknown) => {
    throw new Error(`the Claude Code binary is missing at ${CLAUDE_BIN} (the test runner installs it: node scripts/run-tests.mjs): ${String(err)}`);
  });
  const { stdout } = await promisify(execFile)(CLAUDE_BIN, ["--version"], { timeout: 20_000, env: { ...process.env, DISABLE_AUTOUPDATER: "1" } });
  version = /^(\d+\.\d+\.\d+)/.exec(stdout.trim())?.[1] ?? assert.fail(`unexpected claude --version output: ${stdout}`);
  root = await mkdtemp(path.join(os.tmpdir(), "cf-e2e-"));
  await mkdir(path.join(root, "home"));
  api = await startMockModelApi();
  tmux = privateTmux("e2e");
  receiver = await startHookReceiver();
});

after(async () => {
  await tmux?.close();
  // Killing the sessions fires SessionEnd hooks: let every process started from the sandbox finish
  // before removing it, or a late hook would spool into a re-created folder.
  if (root) await waitForProcessesGone(root, 15_000);
  await api?.close();
  receiver?.server.closeAllConnections();
  await new Promise((r) => (receiver ? receiver.server.close(r) : r(undefined)));
  if (root) await rm(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
});

/** A stand-in for the daemon's `POST /api/hook`. */
async function startHookReceiver(): Promise<typeof receiver> {
  const events: typeof receiver.events = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const parsed = parseHookEnvelope(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      if (!parsed.ok) {
        res.writeHead(400).end(parsed.reason);
        return;
      }
      events.push({ event: parsed.event, context: parsed.envelope.context });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, events, server };
}

interface Agent {
  name: string;
  home: string;
  cwd: string;
  sessionId: string;
  stateDir: string;
  startedAt: number;
  screen(): Promise<{ text: string; verdict: ScreenVerdict }>;
  hooks(kind?: HookEvent["kind"]): HookEvent[];
}

/** Prepares an account home and starts the agent in its own tmux session, as the daemon would. */
async function startAgent(name: string, auth: { apiKey: string } | { oauthToken: string }, options: { cwd?: string; hookUrl?: string } = {}): Promise<Agent> {
  const home = path.join(root, "accounts", name);
  const cwd = options.cwd ?? path.join(root, "work", name);
  const stateDir = path.join(root, "state", name);
  await mkdir(cwd, { recursive: true });
  await prepareAccountHome({ home, cwd, version, apiKey: "apiKey" in auth ? auth.apiKey : undefined });
  // The daemon's own settings file: the real `claude-failover hook` subcommand (selfCommand: tsx here), the CLI's continue-at-reset off.
  const settingsFile = await writeDaemonHookSettings(stateDir, options.hookUrl ?? receiver.url);
  const sessionId = randomUUID();
  const launch = buildLaunchCommand({
    command: CLAUDE_BIN, args: ["--dangerously-skip-permissions"], home, sessionId, settingsFile, runningAsRoot: process.getuid?.() === 0,
    env: {
      ANTHROPIC_BASE_URL: api.url, DISABLE_TELEMETRY: "1", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1", DISABLE_AUTOUPDATER: "1",
      // Nothing of the machine's own ~/.claude, caches or config is read or written.
      HOME: path.join(root, "home"), XDG_CONFIG_HOME: path.join(root, "home", ".config"), XDG_CACHE_HOME: path.join(root, "home", ".cache"),
      XDG_DATA_HOME: path.join(root, "home", ".local", "share"), XDG_STATE_HOME: path.join(root, "home", ".local", "state"), TZ: "UTC",
      ...("apiKey" in auth ? { ANTHROPIC_API_KEY: auth.apiKey } : { CLAUDE_CODE_OAUTH_TOKEN: auth.oauthToken }),
    },
  });
  // The tmux server inherits this process's environment: credentials the test did not give are removed.
  // `set -m` puts the agent in its own foreground process group, as at the daemon's interactive
  // shell, so the pane's current command is claude while it runs (the driver relies on it).
  // `cd <cwd> &&` as on the daemon's typed line: a cwd reached through a symlink is entered the same way.
  const unset = AUTH_VARS.filter((v) => !(v in launch.env)).flatMap((v) => ["-u", v]);
  const startedAt = Date.now();
  await tmux.client.newSession({ name, cwd, env: launch.env, command: ["sh", "-c", `set -m; cd ${shellQuote(cwd)} && env ${unset.join(" ")} ${shellJoin(launch.argv)}; exec /bin/sh`] });
  return {
    name, home, cwd, sessionId, stateDir, startedAt,
    async screen() {
      const text = await tmux.client.capturePane(name);
      return { text, verdict: classifyScreen(text, { now: Date.now(), hostZone: "UTC" }) };
    },
    hooks(kind) {
      return receiver.events.map((e) => e.event).filter((e) => e.sessionId === sessionId && (kind === undefined || e.kind === kind));
    },
  };
}

/** Polls `probe` until it yields a value, failing with `what` and the last screen after `timeoutMs`. */
function waitFor<T>(agent: Agent, what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = STEP_MS): Promise<T> {
  return until(`${agent.name}: ${what}`, probe, timeoutMs, {
    everyMs: 100,
    explain: async () => {
      const { text, verdict } = await agent.screen().catch(() => ({ text: "(no screen)", verdict: undefined }));
      return `verdict ${JSON.stringify(verdict)}; screen:\n${text}`;
    },
  });
}

const untilState = (agent: Agent, state: ScreenVerdict["state"], seen?: Set<string>) =>
  waitFor(agent, `screen state ${state}`, async () => {
    const s = await agent.screen();
    seen?.add(`${s.verdict.state}:${s.verdict.detail}`);
    return s.verdict.state === state ? s : undefined;
  });

const untilHook = (agent: Agent, kind: HookEvent["kind"], count = 1) =>
  waitFor(agent, `${count}× ${kind} hook`, () => {
    const found = agent.hooks(kind);
    return found.length >= count ? found[count - 1] : undefined;
  });

/** Pastes through a tmux buffer, then submits with a separate Enter (contract S5), once the paste shows. */
async function submit(agent: Agent, prompt: string, shows: string): Promise<void> {
  await tmux.client.paste(agent.name, prompt);
  await waitFor(agent, "the pasted prompt in the input box", async () => ((await agent.screen()).text.includes(shows) ? true : undefined));
  await tmux.client.sendKey(agent.name, "Enter");
}

function note(t: TestContext, agent: Agent, label: string): void {
  t.diagnostic(`${agent.name}: ${label} at +${Date.now() - agent.startedAt} ms`);
}

describe("the real Claude Code CLI in tmux against the mock model API", { concurrency: true }, () => {
  test("unattended start, multi-line paste + separate Enter, Stop hook, transcript, tool run, /exit", async (t) => {
    // A cwd over 200 sanitised characters, with a space and a non-BMP character: the transcript
    // folder then needs Claude Code's exact hash rule to be found.
    const cwd = path.join(root, "work", "a-long-project-folder-name".repeat(5), "second_level.with dots".repeat(4), "café 😀");
    const agent = await startAgent("cf-e2e-main", { apiKey: API_KEY }, { cwd });
    const seen = new Set<string>();
    await untilState(agent, "idle", seen);
    note(t, agent, "idle prompt");
    assert.ok(![...seen].some((s) => s.startsWith("dialog")), `no dialog may block an unattended start; saw ${[...seen].join(", ")}`);
    const start = await untilHook(agent, "SessionStart");
    assert.ok(start.kind === "SessionStart" && start.source === "startup");
    const context = receiver.events.find((e) => e.event === start)?.context;
    assert.match(String(context?.tmux_pane), /^%\d+$/, "the hook knows its tmux pane");
    assert.equal(context?.config_dir, agent.home, "the hook knows its account");

    const reply = "REPLY-ONE: the multi-line task is done.";
    api.script({ token: API_KEY, prompt: "third line of the task", respond: { kind: "reply", text: reply, delayMs: 1500 } });
    const prompt = "First line of the task\nsecond line, with `quotes` and $(not a command)\nthird line of the task";
    await submit(agent, prompt, "First line of the task");
    await untilState(agent, "busy");
    note(t, agent, "busy");
    const stop = await untilHook(agent, "Stop");
    note(t, agent, "Stop hook");
    assert.ok(stop.kind === "Stop");
    assert.equal(stop.lastAssistantMessage, reply);
    await untilState(agent, "idle");
    note(t, agent, "idle again");
    const turn = api.requests.find((r) => r.kind === "turn" && r.lastUserText === prompt);
    assert.ok(turn, "the model received the prompt exactly, newlines included");
    assert.equal(turn.headers["x-api-key"], API_KEY);

    const file = transcriptPath(agent.home, cwd, agent.sessionId);
    const summary = await readTranscript(file);
    assert.equal(summary.lastAssistant?.text, reply);
    assert.equal(summary.lastAssistant?.afterLastPrompt, true);
    assert.equal(summary.lastPrompt?.text, prompt);
    assert.ok(summary.usage.responses >= 1 && summary.usage.outputTokens > 0);
    assert.equal(summary.malformedLines, 0);

    const flag = path.join(root, "flags", "tool ran.flag");
    await mkdir(path.dirname(flag), { recursive: true });
    api.script({ token: API_KEY, prompt: "make the flag", respond: { kind: "tool", command: `touch ${shellQuote(flag)}`, finalText: "REPLY-TWO: flag made." } });
    await submit(agent, "please make the flag", "please make the flag");
    const stop2 = await untilHook(agent, "Stop", 2);
    note(t, agent, "Stop hook after the tool run");
    assert.ok(stop2.kind === "Stop" && stop2.lastAssistantMessage === "REPLY-TWO: flag made.");
    assert.ok((await stat(flag)).isFile(), "the Bash tool ran the command, without a permission prompt");
    await untilState(agent, "idle");

    await tmux.client.sendText(agent.name, "/exit");
    await waitFor(agent, "/exit typed", async () => ((await agent.screen()).text.includes("/exit") ? true : undefined));
    await tmux.client.sendKey(agent.name, "Enter");
    const end = await untilHook(agent, "SessionEnd");
    assert.ok(end.kind === "SessionEnd" && end.reason === "prompt_input_exit");
    const shell = await untilState(agent, "shell");
    note(t, agent, "back at the shell");
    assert.match(shell.text, new RegExp(`--resume ${agent.sessionId}`));
    assert.equal(agent.hooks("StopFailure").length, 0);
  });

  // Claude Code names the transcript's folder after the physical cwd, not the path the shell cd-ed through.
  test("a cwd reached through a symlink: the transcript is under the physical path, where locateTranscript looks", async (t) => {
    const real = path.join(root, "work", "real-proj");
    const link = path.join(root, "work", "link-to-proj");
    await mkdir(real, { recursive: true });
    await symlink("real-proj", link);
    const agent = await startAgent("cf-e2e-symlink", { apiKey: API_KEY }, { cwd: link });
    await untilState(agent, "idle");
    const reply = "REPLY-SYMLINK: done in the linked folder.";
    api.script({ token: API_KEY, prompt: "work in the linked folder", respond: { kind: "reply", text: reply } });
    await submit(agent, "work in the linked folder", "work in the linked folder");
    const stop = await untilHook(agent, "Stop");
    note(t, agent, "Stop hook");
    const physical = await realpath(link);
    assert.ok(stop.kind === "Stop" && stop.cwd === physical, `the CLI reports the physical cwd (${stop.cwd ?? "none"})`);
    await untilState(agent, "idle");
    assert.deepEqual(await readdir(path.join(agent.home, "projects")), [sanitizeProjectPath(physical)]);
    const file = await locateTranscript(agent.home, link, agent.sessionId);
    assert.equal(file, transcriptPath(agent.home, physical, agent.sessionId));
    assert.equal((await readTranscript(file)).lastAssistant?.text, reply);
  });

  // A daemon killed between the paste and its Enter leaves the prompt in the box, drawn or not yet
  // (the crash harness once caught the old `/exit` going in behind an undrawn paste, and Enter
  // submitting both); the next daemon ends that agent. The prompt must never reach the model.
  // (Stopping the agent to hold the paste undrawn is no model: the shell takes the terminal back.
  // The undrawn case is pinned with the fake's input lag in agent-driver.test.ts.)
  for (const when of ["at once", "once drawn"] as const) {
    test(`the driver's exit after a paste whose Enter never came (${when}) submits nothing`, async (t) => {
      const agent = await startAgent(`cf-e2e-exit-${when === "at once" ? "now" : "drawn"}`, { apiKey: API_KEY });
      await untilState(agent, "idle");
      const marker = `NEVER-SENT-${randomUUID()}`;
      const driver = new AgentDriver({
        tmux: tmux.client, clock: systemClock, log: silentLogger(), classify: (c) => classifyScreen(c, { now: Date.now(), hostZone: "UTC" }),
        signals: { promptSeen: () => false, sessionStarted: () => false },
      });
      await tmux.client.paste(agent.name, `a task for ${marker}\nwith a second line\nand a third\nand a fourth`);
      if (when === "once drawn") await waitFor(agent, "the paste drawn", async () => ((await agent.screen()).verdict.inputText ? true : undefined));
      await driver.exit(agent.name);
      note(t, agent, "back at the shell");
      const end = await untilHook(agent, "SessionEnd");
      assert.ok(end.kind === "SessionEnd" && end.reason === "prompt_input_exit");
      assert.deepEqual(agent.hooks("UserPromptSubmit"), []);
      assert.deepEqual(api.requests.filter((r) => JSON.stringify(r.body ?? "").includes(marker)).map((r) => r.lastUserText), [], "the pasted prompt never reached the model");
    });
  }

  test("the driver ends an idle agent with two Ctrl-C back to back: a clean exit, SessionEnd prompt_input_exit", async (t) => {
    const agent = await startAgent("cf-e2e-exit-idle", { apiKey: API_KEY });
    await untilState(agent, "idle");
    const driver = new AgentDriver({
      tmux: tmux.client, clock: systemClock, log: silentLogger(), classify: (c) => classifyScreen(c, { now: Date.now(), hostZone: "UTC" }),
      signals: { promptSeen: () => false, sessionStarted: () => false },
    });
    await driver.exit(agent.name);
    note(t, agent, "back at the shell");
    const end = await untilHook(agent, "SessionEnd");
    assert.ok(end.kind === "SessionEnd" && end.reason === "prompt_input_exit");
  });

  test("login mode: a subscription usage limit shows the banner and fires StopFailure rate_limit", async (t) => {
    const token = "tok-e2e-exhausted-account";
    const resetAt = Math.floor(Date.now() / 1000) + 2 * 3600;
    api.script({ token, respond: { kind: "usage-limit", claim: "five_hour", resetAt } });
    const agent = await startAgent("cf-e2e-limit", { oauthToken: token });
    await untilState(agent, "idle");
    note(t, agent, "idle prompt");
    await submit(agent, "work that hits the wall", "work that hits the wall");
    const failure = await untilHook(agent, "StopFailure");
    note(t, agent, "StopFailure hook");
    assert.ok(failure.kind === "StopFailure");
    assert.equal(failure.error, "rate_limit");
    // "session limit" up to 2.1.197, "5-hour limit" from 2.1.312.
    assert.match(failure.lastAssistantMessage ?? "", /^You've hit your (?:session|5-hour) limit · resets /);
    assert.equal(isUsageLimitFailure(failure), true);

    const limit = await untilState(agent, "limit");
    note(t, agent, "limit on screen");
    assert.match(limit.text, /You've hit your (?:session|5-hour) limit · resets \d{1,2}(:\d\d)?[ap]m \(UTC\)/);
    // 2.1.332 with its own auto-continue on adds "● Usage limit reached · set to continue automatically at …" below.
    assert.ok(["session", "usage"].includes(limit.verdict.limit?.kind ?? ""), `limit kind ${limit.verdict.limit?.kind ?? "none"}`);
    const shown = limit.verdict.limit?.resetsAt ?? 0;
    assert.ok(Math.abs(shown - resetAt * 1000) <= 60_000, `reset parsed from the screen (${new Date(shown).toISOString()}) is the one the API sent (${new Date(resetAt * 1000).toISOString()})`);
    assert.equal(agent.hooks("Stop").length, 0, "Stop does not fire when the turn failed");

    const summary = await readTranscript(transcriptPath(agent.home, agent.cwd, agent.sessionId));
    assert.equal(summary.lastAssistant?.isApiError, true);
    assert.equal(summary.lastAssistant?.error, "rate_limit");
    assert.equal(summary.lastAssistant?.apiErrorStatus, 429);
    assert.equal(summary.lastAssistant?.usageLimit, true);
    const turn = api.requests.find((r) => r.kind === "turn" && r.token === token);
    assert.equal(turn?.headers.authorization, `Bearer ${token}`);
    assert.equal(turn?.headers["x-api-key"], undefined, "login mode sends no API key");
  });

  test("login mode: a 500 whose text says 'rate limit' is a server error, not a usage limit (hook spooled, daemon down)", async (t) => {
    const token = "tok-e2e-flaky-server";
    api.script({ token, respond: { kind: "server-error", message: "Internal server error (upstream rate limit exceeded)" } });
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, "127.0.0.1", r));
    const deadUrl = `http://127.0.0.1:${(dead.address() as AddressInfo).port}`;
    await new Promise((r) => dead.close(r));
    const agent = await startAgent("cf-e2e-500", { oauthToken: token }, { hookUrl: deadUrl });
    await untilState(agent, "idle");
    note(t, agent, "idle prompt");
    await submit(agent, "work that meets a flaky server", "work that meets a flaky server");

    const spool = spoolDir(agent.stateDir);
    await waitFor(agent, "a spooled StopFailure", async () => {
      const names = await readdir(spool).catch(() => [] as string[]);
      return names.some((n) => n.endsWith("-StopFailure.json")) ? true : undefined;
    });
    note(t, agent, "StopFailure spooled");
    const drained: DrainedEvent[] = [];
    const result = await drainSpool(spool, async (e) => {
      drained.push(e);
    });
    assert.deepEqual(result.rejected, []);
    assert.deepEqual(drained.map((d) => d.event.kind).filter((k) => k !== "UserPromptSubmit"), ["SessionStart", "StopFailure"]);
    const failure = drained.find((d) => d.event.kind === "StopFailure")!.event;
    assert.ok(failure.kind === "StopFailure");
    assert.equal(failure.sessionId, agent.sessionId);
    assert.equal(failure.error, "server_error");
    assert.match(failure.lastAssistantMessage ?? "", /API Error: 500 .*rate limit/);
    assert.equal(isUsageLimitFailure(failure), false);

    const error = await untilState(agent, "error");
    note(t, agent, "error on screen");
    assert.equal(error.verdict.detail, "api-500");
    assert.equal(error.verdict.limit, null);
    assert.match(error.text, /API Error: 500/);
    assert.doesNotMatch(error.text, /You've hit your|limit reached/);
    const summary = await readTranscript(transcriptPath(agent.home, agent.cwd, agent.sessionId));
    assert.deepEqual(summary.apiErrors.map((e) => [e.error, e.apiErrorStatus, e.usageLimit]), [["server_error", 500, false]]);
    const config = JSON.parse(await readFile(path.join(agent.home, ".claude.json"), "utf8")) as { hasCompletedOnboarding?: unknown; numStartups?: unknown };
    assert.equal(config.hasCompletedOnboarding, true, "the CLI's own rewrites of .claude.json keep what was prepared");
  });
});
