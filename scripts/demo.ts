// The README's main job: a self-contained demo on a private tmux socket, no Claude account needed.
//   npm run demo                 runs until Ctrl-C
//   npm run demo -- --seconds 20 stops by itself (used by the smoke test)
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { stringify } from "yaml";
import { loadConfig } from "../src/config/loader.js";
import { Daemon } from "../src/daemon/daemon.js";
import { createLogger } from "../src/lib/logger.js";
import { CliTmuxClient } from "../src/tmux/cli-client.js";
import { table } from "../src/cli/status-format.js";

const secondsArg = process.argv.indexOf("--seconds");
const runFor = secondsArg > 0 ? Number(process.argv[secondsArg + 1]) : Infinity;
const say = (line = ""): void => void process.stdout.write(line + "\n");

try {
  say(execFileSync("tmux", ["-V"], { encoding: "utf8" }).trim() + " found");
} catch {
  say("tmux is not installed: apt-get install tmux (3.2 or later), then run this again.");
  process.exit(1);
}

const dir = await mkdtemp(path.join(os.tmpdir(), "claude-failover-demo-"));
const socket = `cf-demo-${process.pid}`;
const tmux = new CliTmuxClient({ socket });
const home = path.join(dir, "home");
for (const a of ["main", "backup"]) await mkdir(path.join(home, `.claude-${a}`), { recursive: true });
await mkdir(path.join(dir, "work"), { recursive: true });
const configPath = path.join(dir, "config.yaml");
await writeFile(configPath, stringify({
  state_dir: path.join(dir, "state"),
  http: { listen: "127.0.0.1:0" },
  tmux: { socket, width: 160, height: 40 },
  claude: { link: path.join(home, ".claude"), shared_root: home },
  accounts: [{ name: "main", home: path.join(home, ".claude-main") }, { name: "backup", home: path.join(home, ".claude-backup") }],
  pool: { autonomous: { prefix: "demo-pool-", start_index: 1, min: 3, max: 5, cwd: path.join(dir, "work") }, dedicated: [{ name: "demo-operator", cwd: path.join(dir, "work") }] },
  queue: { root: path.join(dir, "queue") },
}));

// Daemon logs go to a file in the sandbox so the live table stays readable.
const logFile = path.join(dir, "daemon.log");
const { default: pino } = await import("pino");
const log = createLogger({ destination: pino.destination({ dest: logFile, sync: true }) });
const daemon = new Daemon({ config: await loadConfig(configPath), log });

let cleaning: Promise<void> | undefined;
const cleanup = (): Promise<void> =>
  (cleaning ??= (async () => {
    await daemon.stop().catch(() => undefined);
    await tmux.killServer().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    say("\ndemo stopped: daemon stopped, private tmux server killed, sandbox removed.");
  })());
process.on("SIGINT", () => void cleanup().then(() => process.exit(0)));
process.on("SIGTERM", () => void cleanup().then(() => process.exit(0)));

await daemon.start();
const url = daemon.url!;
say(`sandbox:     ${dir}`);
say(`config:      ${configPath}`);
say(`daemon log:  ${logFile}`);
say(`API:         curl ${url}/status   (also /health, /metrics)`);
say(`watch:       tmux -L ${socket} attach -t demo-pool-1   (detach: Ctrl-b d)`);
say("");

const started = Date.now();
let killed = false;
for (;;) {
  const elapsed = (Date.now() - started) / 1000;
  if (elapsed >= runFor) break;
  if (!killed && elapsed >= 4) {
    killed = true;
    await tmux.killSession("demo-pool-2");
    say("killed demo-pool-2 behind the daemon's back: the next reconcile (every 15 s) recreates it.");
  }
  const status = (await (await fetch(`${url}/status`)).json()) as { active_account: string; sessions: { name: string; kind: string; state: string; since: string }[] };
  const health = (await fetch(`${url}/health`)).status;
  const on = new Set((await tmux.listSessions()).map((s) => s.name));
  say(`[${elapsed.toFixed(0).padStart(3)}s] /health ${health} · active account ${status.active_account}`);
  say(table(["SESSION", "KIND", "STATE", "ON TMUX"], status.sessions.filter((s) => s.state !== "missing").map((s) => [s.name, s.kind, s.state, on.has(s.name) ? "yes" : "no"])));
  say("");
  await new Promise((r) => setTimeout(r, 3000));
}
await cleanup();
