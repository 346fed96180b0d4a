import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { stringify } from "yaml";
import { createLogger, type Logger } from "../../src/lib/logger.js";
import { CliTmuxClient } from "../../src/tmux/cli-client.js";
import { startMockModelApi, type MockModelApi } from "./mock-model-api.js";
import { removeSocketFiles } from "./tmux-server.js";
import { claudeBinary, CURRENT_PINNED } from "./claude-install.js";
import { REPO } from "./repo.js";
import { loadConfig } from "../../src/config/loader.js";
import { Daemon } from "../../src/daemon/daemon.js";

export { REPO };
/**
 * The real Claude Code CLI the e2e tier drives: the pinned current version (installed by the test runner), or the
 * binary that CLAUDE_FAILOVER_TEST_CLAUDE names (the canary points it at another install).
 */
export const CLAUDE_BIN = process.env.CLAUDE_FAILOVER_TEST_CLAUDE || claudeBinary(CURRENT_PINNED);
const AUTH_VARS = ["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN", "CLAUDE_CONFIG_DIR", "TMUX", "TMUX_PANE"];

export interface ClaudeSandboxOptions {
  label: string;
  projects: string[];
  pool?: { min: number; max: number };
  /** Extra config keys merged over the sandbox's (queue, watcher …). */
  config?: Record<string, unknown>;
  /** The Claude Code binary the daemon runs (default CLAUDE_BIN). */
  claudeBin?: string;
  /** Dedicated sessions; a relative cwd is taken from the sandbox folder (and created). */
  dedicated?: { name: string; cwd: string }[];
}

export interface ClaudeSandbox {
  dir: string;
  home: string;
  socket: string;
  api: MockModelApi;
  tmux: CliTmuxClient;
  configPath: string;
  queueRoot: string;
  /** Environment for a daemon process: HOME in the sandbox, no credential of the machine. */
  env: NodeJS.ProcessEnv;
  /**
   * Gives this process the sandbox's HOME and drops the machine's credentials, so the tmux server it
   * starts — and every agent in it — lives in the sandbox. Only for a process of its own (a test file
   * runs in one; so does the demo).
   */
  adoptEnvironment(): void;
  /** Drops a task Maildir-style (written aside, renamed into the inbox). */
  drop(project: string, name: string, text: string): Promise<void>;
  /** Task file names per folder of a project. */
  files(project: string, folder: "inbox" | "active" | "done" | "failed"): Promise<string[]>;
  read(project: string, folder: "done" | "failed", name: string): Promise<string>;
  /**
   * A debug logger for a daemon of this sandbox, writing to `<dir>/daemon.log` (or to the file
   * CF_E2E_LOG names, kept after the run).
   */
  logger(): Logger;
  /** What a failing test should print: the sessions' screens and the end of the daemon's log. */
  evidence(sessions: string[]): Promise<string>;
  close(): Promise<void>;
}

/**
 * A machine in miniature for the daemon with the real Claude Code CLI: a temp dir, a private tmux
 * socket, the mock model API on loopback, two accounts in subscription-login mode told apart by
 * their tokens, and a config tying them together. close() kills only what it started.
 */
export async function makeClaudeSandbox(o: ClaudeSandboxOptions): Promise<ClaudeSandbox> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `cf-${o.label}-`));
  const home = path.join(dir, "home");
  const socket = `cf-${o.label}-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
  for (const v of AUTH_VARS) delete env[v];
  const tmux = new CliTmuxClient({ socket, timeoutMs: 10_000 });
  const api = await startMockModelApi();
  const projects: Record<string, string> = {};
  for (const p of o.projects) {
    projects[p] = path.join(dir, "work", p);
    await mkdir(projects[p], { recursive: true });
  }
  for (const a of ["main", "backup"]) await mkdir(path.join(home, `.claude-${a}`), { recursive: true });
  const queueRoot = path.join(dir, "queue");
  const configPath = path.join(dir, "config.yaml");
  const logFile = process.env.CF_E2E_LOG ?? path.join(dir, "daemon.log");
  const config = {
    state_dir: path.join(dir, "state"),
    http: { listen: "127.0.0.1:0" },
    tmux: { socket, width: 160, height: 45 },
    claude: {
      command: o.claudeBin ?? CLAUDE_BIN,
      args: ["--dangerously-skip-permissions"],
      link: path.join(home, ".claude"),
      shared_root: home,
      env: { ANTHROPIC_BASE_URL: api.url, DISABLE_TELEMETRY: "1", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1", DISABLE_AUTOUPDATER: "1" },
    },
    accounts: [
      { name: "main", home: path.join(home, ".claude-main"), env: { CLAUDE_CODE_OAUTH_TOKEN: "token-main" } },
      { name: "backup", home: path.join(home, ".claude-backup"), env: { CLAUDE_CODE_OAUTH_TOKEN: "token-backup" } },
    ],
    pool: {
      autonomous: { prefix: `${o.label}-`, start_index: 1, min: o.pool?.min ?? 2, max: o.pool?.max ?? 2, cwd: dir },
      dedicated: (o.dedicated ?? []).map((d) => ({ name: d.name, cwd: path.resolve(dir, d.cwd) })),
    },
    queue: { root: queueRoot, projects, rescan_interval: "5s" },
    watcher: { poll_interval: "1s", idle_confirm: 2 },
    // Loopback only: the usage endpoint is the mock's, never the real one.
    quota: { usage_api_url: `${api.url}/api/oauth/usage` },
    ...o.config,
  };
  for (const d of o.dedicated ?? []) await mkdir(path.resolve(dir, d.cwd), { recursive: true });
  await writeFile(configPath, stringify(config));
  return {
    dir, home, socket, api, tmux, configPath, queueRoot, env,
    adoptEnvironment() {
      process.env.HOME = home;
      for (const v of AUTH_VARS) delete process.env[v];
    },
    async drop(project, name, text) {
      const tmp = path.join(queueRoot, project, `.${name}.tmp`);
      await mkdir(path.join(queueRoot, project, "inbox"), { recursive: true });
      await writeFile(tmp, text);
      await rename(tmp, path.join(queueRoot, project, "inbox", name));
    },
    files: async (project, folder) => (await readdir(path.join(queueRoot, project, folder)).catch(() => [] as string[])).filter((n) => n.endsWith(".md")).sort(),
    read: (project, folder, name) => readFile(path.join(queueRoot, project, folder, name), "utf8"),
    logger: () => createLogger({ level: "debug", destination: pino.destination({ dest: logFile, sync: true }) }),
    async evidence(sessions) {
      const out: string[] = [];
      for (const s of sessions) {
        const pane = await tmux.capturePane(s).catch((err: unknown) => `(no capture: ${String(err)})`);
        out.push(`--- screen of ${s}:`, pane.split("\n").filter((l) => l.trim() !== "").slice(-25).join("\n"));
      }
      const lines = (await readFile(logFile, "utf8").catch(() => "")).split("\n").filter(Boolean);
      out.push(`--- daemon log (${lines.length} lines; the last 60 at info and above):`);
      for (const line of lines.filter((l) => !l.startsWith('{"level":"debug"')).slice(-60)) {
        try {
          const { time, msg, level, pid: _pid, ...rest } = JSON.parse(line) as Record<string, unknown>;
          out.push(`${String(time).slice(11, 23)} ${String(level)} ${String(msg)} ${JSON.stringify(rest).slice(0, 400)}`);
        } catch {
          out.push(line.slice(0, 400));
        }
      }
      return out.join("\n");
    },
    async close() {
      await tmux.killServer().catch(() => undefined);
      await waitForProcessesGone(dir, 15_000);
      await api.close().catch(() => undefined);
      await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
      // tmux 3.3a leaves its socket file behind after kill-server.
      await removeSocketFiles(socket);
    },
  };
}

/** Waits until no process has `marker` in its command line or environment (Claude Code hides its argv). */
export async function waitForProcessesGone(marker: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let alive = 0;
    for (const pid of (await readdir("/proc").catch(() => [] as string[])).filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)) {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
      const environ = await readFile(`/proc/${pid}/environ`, "utf8").catch(() => "");
      if (cmdline.includes(marker) || environ.includes(marker)) alive++;
    }
    if (alive === 0 || Date.now() > deadline) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A sandbox whose environment this process adopts (an e2e file runs in a process of its own), then a daemon
 * started on its config; `prepare` edits the sandbox first. The sandbox is closed when the start fails.
 */
export async function startSandboxDaemon(o: ClaudeSandboxOptions, prepare?: (sb: ClaudeSandbox) => Promise<void>): Promise<{ sb: ClaudeSandbox; daemon: Daemon }> {
  const sb = await makeClaudeSandbox(o);
  try {
    sb.adoptEnvironment();
    await prepare?.(sb);
    const daemon = new Daemon({ config: await loadConfig(sb.configPath), log: sb.logger() });
    await daemon.start();
    return { sb, daemon };
  } catch (err) {
    await sb.close();
    throw err;
  }
}
