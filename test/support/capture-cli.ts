/**
 * Draws the screens of a real Claude Code binary against the mock model API, in tmux on a private
 * socket (200×50, subscription-login mode), one account home and session per scenario, side by side.
 * Used to capture fixtures (scripts/capture-screens.ts) and by the canary to see what a new version shows.
 */
import { randomUUID } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { buildLaunchCommand, prepareAccountHome } from "../../src/claude/launch.js";
import { shellJoin } from "../../src/lib/shell-quote.js";
import type { Key } from "../../src/tmux/client.js";
import { waitForProcessesGone } from "./claude-sandbox.js";
import { startMockModelApi, type MockModelApi } from "./mock-model-api.js";
import { privateTmux } from "./tmux-server.js";

export interface Capture {
  /** File stem, e.g. `limit-5h`. */
  name: string;
  /** What a correct classifier says (the fixture README's column). */
  expect: string;
  text: string;
}

export interface CaptureRun {
  version: string;
  captures: Capture[];
  /** The last user text blocks the mock received for the big paste (to see `<pasted_content>` wrapping). */
  pasteSeen: string | undefined;
  /** Whether the CLI sent its own continuation after a reset, with auto-continue on and off (`--settings`). */
  autoContinue: { on: boolean; off: boolean } | undefined;
  /** Scenarios that did not get through (their captures so far are kept). */
  errors: string[];
}

const AUTO_CONTINUE = /usage limit has reset|usage is available again/i;

/** Runs every scenario against `bin` and returns the captures. `autoContinueMs` > 0 also waits out a reset. */
export async function captureScreens(bin: string, version: string, options: { autoContinueMs?: number } = {}): Promise<CaptureRun> {
  const root = await mkdtemp(path.join(os.tmpdir(), "cf-capture-"));
  const api: MockModelApi = await startMockModelApi();
  const tmux = privateTmux("cap");
  const captures: Capture[] = [];
  const grab = async (session: string, name: string, expect: string): Promise<string> => {
    const text = await tmux.client.capturePane(session, { history: 0 });
    captures.push({ name, expect, text });
    return text;
  };
  const waitScreen = async (session: string, test: (s: string) => boolean, ms = 30_000): Promise<string> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const s = await tmux.client.capturePane(session);
      if (test(s)) return s;
      if (Date.now() > deadline) throw new Error(`${session}: screen not reached within ${ms} ms:\n${s}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const start = async (name: string, token: string, o: { trust?: boolean; settings?: Record<string, unknown> } = {}): Promise<string> => {
    const home = path.join(root, "homes", name);
    const cwd = path.join(root, "work", name);
    await mkdir(cwd, { recursive: true });
    // Untrusted: onboarding done (no first-run connectivity check), but trust given for another folder only.
    await prepareAccountHome({ home, cwd: o.trust === false ? root : cwd, version });
    const settingsFile = path.join(root, `${name}-settings.json`);
    await writeFile(settingsFile, JSON.stringify(o.settings ?? {}));
    const launch = buildLaunchCommand({
      command: bin, args: ["--dangerously-skip-permissions"], home, sessionId: randomUUID(), runningAsRoot: process.getuid?.() === 0,
      settingsFile,
      env: {
        ANTHROPIC_BASE_URL: api.url, DISABLE_TELEMETRY: "1", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1", DISABLE_AUTOUPDATER: "1",
        HOME: path.join(root, "home"), XDG_CONFIG_HOME: path.join(root, "home", ".config"), XDG_CACHE_HOME: path.join(root, "home", ".cache"), TZ: "UTC",
        CLAUDE_CODE_OAUTH_TOKEN: token,
      },
    });
    await tmux.client.newSession({ name, cwd, width: 200, height: 50, env: launch.env, command: ["sh", "-c", `set -m; env -u ANTHROPIC_API_KEY ${shellJoin(launch.argv)}; exec /bin/sh`] });
    return name;
  };
  const idle = (s: string): boolean => /❯/.test(s) && /\? for shortcuts|bypass permissions|shift\+tab/.test(s) && !/esc to interrupt/.test(s);
  const type = async (session: string, text: string, key: Key = "Enter"): Promise<void> => {
    await tmux.client.sendText(session, text);
    await new Promise((r) => setTimeout(r, 150));
    await tmux.client.sendKey(session, key);
  };
  try {
    const inHours = (h: number): number => Math.floor(Date.now() / 1000) + h * 3600;
    const scenarios: Promise<void>[] = [];
    scenarios.push((async () => {
      const s = await start("trust", "tok-trust", { trust: false });
      // 2.1.332 with --dangerously-skip-permissions asks nothing in an untrusted folder; older versions ask.
      await waitScreen(s, (x) => /trust|theme|text style|Choose/i.test(x) || idle(x));
      const shown = await grab(s, "untrusted-folder", "dialog or idle");
      captures.at(-1)!.expect = /trust|Choose/i.test(shown) ? "dialog" : "idle";
    })());
    scenarios.push((async () => {
      const s = await start("work", "tok-work");
      await waitScreen(s, idle);
      await grab(s, "idle", "idle");
      await type(s, "TOKEN-BUSY MOCK_DELAY=6000 a slow one");
      await waitScreen(s, (x) => /esc to interrupt/.test(x));
      await grab(s, "busy", "busy");
      await waitScreen(s, (x) => idle(x) && /MOCK|mock|reply/i.test(x));
      await grab(s, "reply-done", "idle");
      await type(s, "TOKEN-500 MOCK_500");
      await waitScreen(s, (x) => /API Error|Internal server error/i.test(x) && !/esc to interrupt/.test(x), 60_000);
      await grab(s, "500-final", "error");
      // A paste over 800 characters: the mock records what the model would receive.
      await tmux.client.paste(s, `TOKEN-PASTE ${"lorem ipsum dolor sit amet ".repeat(60)}\nsecond line\nthird line`);
      await new Promise((r) => setTimeout(r, 300));
      await grab(s, "paste-in-box", "idle (a big paste waits in the input box)");
      await tmux.client.sendKey(s, "Enter");
      await api.waitForRequest((r) => r.kind === "turn" && r.userTexts.some((t) => t.includes("TOKEN-PASTE")), 30_000);
    })());
    scenarios.push((async () => {
      const s = await start("l5h", "tok-5h");
      await waitScreen(s, idle);
      api.exhaust("tok-5h", inHours(2), "five_hour");
      await type(s, "TOKEN-5H meet the five-hour wall");
      await waitScreen(s, (x) => /limit/i.test(x) && !/esc to interrupt/.test(x));
      await new Promise((r) => setTimeout(r, 1500));
      await grab(s, "limit-5h", "limit");
      await tmux.client.sendKey(s, "Escape");
      await new Promise((r) => setTimeout(r, 1500));
      await grab(s, "limit-5h-after-esc", "limit");
    })());
    scenarios.push((async () => {
      const s = await start("l7d", "tok-7d");
      await waitScreen(s, idle);
      api.exhaust("tok-7d", inHours(80), "seven_day");
      await type(s, "TOKEN-7D meet the weekly wall");
      await waitScreen(s, (x) => /limit/i.test(x) && !/esc to interrupt/.test(x));
      await new Promise((r) => setTimeout(r, 1500));
      await grab(s, "limit-weekly", "limit");
    })());
    scenarios.push((async () => {
      const s = await start("o529", "tok-529");
      await waitScreen(s, idle);
      api.script({ token: "tok-529", respond: { kind: "overloaded", retry: true } });
      await type(s, "TOKEN-529 overloaded");
      await waitScreen(s, (x) => /retrying in|Overloaded ·/i.test(x), 60_000);
      await grab(s, "529-retrying", "busy");
      await tmux.client.sendKey(s, "Escape");
    })());
    scenarios.push((async () => {
      // As the daemon runs its agents: Claude Code's own continue-at-reset off (the daemon's settings file).
      const s = await start("l5hoff", "tok-5hoff", { settings: { autoContinueAtUsageLimit: false } });
      await waitScreen(s, idle);
      api.exhaust("tok-5hoff", inHours(2), "five_hour");
      await type(s, "TOKEN-5HOFF meet the five-hour wall");
      await waitScreen(s, (x) => /limit/i.test(x) && !/esc to interrupt/.test(x));
      await new Promise((r) => setTimeout(r, 1500));
      await grab(s, "limit-5h-auto-continue-off", "limit");
    })());
    let autoContinue: CaptureRun["autoContinue"];
    if ((options.autoContinueMs ?? 0) > 0) {
      scenarios.push((async () => {
        const on = await start("acon", "tok-acon", { settings: { autoContinueAtUsageLimit: true } });
        const off = await start("acoff", "tok-acoff", { settings: { autoContinueAtUsageLimit: false } });
        await Promise.all([waitScreen(on, idle), waitScreen(off, idle)]);
        const reset = Math.floor(Date.now() / 1000) + 20;
        api.exhaust("tok-acon", reset);
        api.exhaust("tok-acoff", reset);
        await type(on, "TOKEN-ACON meet the wall");
        await type(off, "TOKEN-ACOFF meet the wall");
        await waitScreen(on, (x) => /limit/i.test(x) && !/esc to interrupt/.test(x));
        await grab(on, "limit-5h-auto-continue-armed", "limit");
        const seen = (token: string): boolean => api.requests.some((r) => r.token === token && r.kind === "turn" && r.userTexts.some((t) => AUTO_CONTINUE.test(t)));
        const deadline = Date.now() + options.autoContinueMs!;
        while (Date.now() < deadline && !(seen("tok-acon") && seen("tok-acoff"))) await new Promise((r) => setTimeout(r, 1000));
        autoContinue = { on: seen("tok-acon"), off: seen("tok-acoff") };
        if (autoContinue.on) {
          await waitScreen(on, idle, 30_000).catch(() => "");
          await grab(on, "auto-continued", "idle");
        }
      })());
    }
    const results = await Promise.allSettled(scenarios);
    const errors = results.filter((r): r is PromiseRejectedResult => r.status === "rejected").map((f) => String(f.reason).slice(0, 3000));
    const paste = api.requests.find((r) => r.kind === "turn" && r.userTexts.some((t) => t.includes("TOKEN-PASTE")));
    return { version, captures, pasteSeen: paste?.userTexts.find((t) => t.includes("TOKEN-PASTE")), autoContinue, errors };
  } finally {
    await tmux.close().catch(() => undefined);
    await waitForProcessesGone(root, 15_000);
    await api.close();
    await rm(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  }
}
