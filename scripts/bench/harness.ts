// The benchmark's harness: what every phase needs to build a sandbox, start a daemon in-process over
// a recording tmux client, and read the process's CPU and memory over a window of wall time.
import { copyFile } from "node:fs/promises";
import path from "node:path";
import { performance } from "node:perf_hooks";
import type { Config } from "../../src/config/schema.js";
import { loadConfig } from "../../src/config/loader.js";
import { Daemon } from "../../src/daemon/daemon.js";
import { createLogger } from "../../src/lib/logger.js";
import { CliTmuxClient } from "../../src/tmux/cli-client.js";
import { makeClaudeSandbox, type ClaudeSandbox } from "../../test/support/claude-sandbox.js";
import { forceGc, now, procCpuMs, RecordingTmux, sleep } from "./support.js";

export interface BenchOptions {
  /** Rounds of the latency phase: the floors once, then one task. */
  tasks: number;
  /** Seconds of each steady-state window. */
  window: number;
  /** Waiting tasks and projects of the scale phase. */
  files: number;
  projects: number;
  /** Pool agents at work when the usage limit hits, and swaps (rounds) of the failover phase. */
  swapPool: number;
  swaps: number;
  /** Operator agents in dedicated sessions, brought back by each swap. */
  swapDedicated: number;
  /** False: the agents' hooks reach nobody, limits are seen on screen or in the transcript only. */
  swapHooks: boolean;
}

export interface BenchContext {
  opts: BenchOptions;
  say(line?: string): void;
  /** argv that runs a compiled `claude-failover` (node dist/main.js), or undefined when the build failed. */
  compiledCli: string[] | undefined;
  /** Where each daemon's log is copied when it stops (--logs), else undefined: logs go with the sandbox. */
  logsDir: string | undefined;
  /** Registers a clean-up step (run in reverse order on exit, Ctrl-C or failure); returns its remover. */
  track(step: () => Promise<unknown>): () => void;
}

/** A sandbox whose tmux server (started later by the daemon) and agents get the sandbox HOME. */
export async function openSandbox(ctx: BenchContext, label: string, projects: string[], pool: { min: number; max: number }): Promise<ClaudeSandbox> {
  const sb = await makeClaudeSandbox({ label, projects, pool });
  // close() kills the private tmux server and removes its socket files.
  ctx.track(() => sb.close());
  // tmux servers take the environment of the client that starts them: the daemon's, i.e. ours.
  process.env.HOME = sb.env.HOME;
  return sb;
}

export interface RunningDaemon {
  daemon: Daemon;
  config: Config;
  tmux: RecordingTmux;
  /** Daemon.start() → running, ms. */
  startMs: number;
  stop(): Promise<void>;
}

/**
 * Starts the daemon on a sandbox with the production defaults for every interval (the sandbox's own
 * config polls faster, for tests), then `tweak`s the config. Logs go to a file in the sandbox.
 */
export async function startDaemon(ctx: BenchContext, sb: ClaudeSandbox, logName: string, tweak: (c: Config) => void = () => undefined): Promise<RunningDaemon> {
  const config = await loadConfig(sb.configPath);
  config.watcher.poll_interval = 5000;
  config.queue.rescan_interval = 30_000;
  // Loopback only: the usage endpoint, were it ever asked, is the mock's.
  config.quota.usage_api_url = `${sb.api.url}/api/oauth/usage`;
  tweak(config);
  const { default: pino } = await import("pino");
  const logFile = path.join(sb.dir, `${logName}.log`);
  const log = createLogger({ destination: pino.destination({ dest: logFile, sync: true }) });
  const tmux = new RecordingTmux(new CliTmuxClient({ socket: config.tmux.socket }));
  const daemon = new Daemon({ config, log, tmux });
  const stop = async (): Promise<void> => {
    await daemon.stop();
    if (ctx.logsDir) await copyFile(logFile, path.join(ctx.logsDir, `${logName}.log`)).catch(() => undefined);
  };
  const untrack = ctx.track(stop);
  const t0 = now();
  await daemon.start();
  const startMs = now() - t0;
  return {
    daemon, config, tmux, startMs,
    async stop() {
      untrack();
      await stop();
    },
  };
}

export interface WindowResult {
  seconds: number;
  /** CPU of this process (daemon, idle mock API, idle bench), % of one core. */
  cpuPct: number;
  /** CPU of the tmux client processes the daemon ran, % of one core. */
  childPct: number;
  /** CPU of the private tmux server, % of one core (undefined without a server). */
  serverPct: number | undefined;
  rssMedian: number;
  rssMax: number;
  /** V8 heap in use after a full GC at the end of the window. */
  heapUsed: number;
  /** Event-loop utilisation over the window, 0–1. */
  elu: number;
  tmuxExecs: number;
}

/** Samples this process (and the tmux server, given its pid) over `seconds` of wall time. */
export async function measureWindow(seconds: number, tmux?: RecordingTmux, serverPid?: number): Promise<WindowResult> {
  forceGc();
  const cpu0 = process.cpuUsage();
  const proc0 = procCpuMs("self");
  const srv0 = serverPid === undefined ? undefined : procCpuMs(serverPid);
  const elu0 = performance.eventLoopUtilization();
  const execs0 = tmux?.execs ?? 0;
  const t0 = now();
  const rss: number[] = [];
  for (let i = 0; i < seconds; i++) {
    await sleep(1000);
    rss.push(process.memoryUsage.rss());
  }
  const wall = now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const proc1 = procCpuMs("self");
  const srv1 = serverPid === undefined ? undefined : procCpuMs(serverPid);
  rss.sort((a, b) => a - b);
  forceGc();
  return {
    seconds: wall / 1000,
    cpuPct: ((cpu.user + cpu.system) / 1000 / wall) * 100,
    childPct: proc0 && proc1 ? ((proc1.children - proc0.children) / wall) * 100 : NaN,
    serverPct: srv0 && srv1 ? ((srv1.self - srv0.self) / wall) * 100 : undefined,
    rssMedian: rss[Math.floor(rss.length / 2)]!,
    rssMax: rss.at(-1)!,
    heapUsed: process.memoryUsage().heapUsed,
    elu: performance.eventLoopUtilization(elu0).utilization,
    tmuxExecs: (tmux?.execs ?? 0) - execs0,
  };
}

/** The pid of a sandbox's tmux server (one `display-message` round trip). */
export async function tmuxServerPid(sb: ClaudeSandbox): Promise<number | undefined> {
  const r = await sb.tmux.run(["display-message", "-p", "#{pid}"], { allowFailure: true });
  const pid = Number(r.stdout.trim());
  return r.exitCode === 0 && pid > 0 ? pid : undefined;
}

/** Pool sessions as the daemon sees them. */
export function sessionStates(daemon: Daemon): { name: string; state: string; task: string | null }[] {
  return daemon.statusView().sessions;
}
