// The README's main job: a self-contained demo on a private tmux socket, no Claude account needed.
// Three pool sessions run the real Claude Code CLI against the bundled mock model API, under two
// fake accounts; sample tasks in two projects (one of them a bad file) go through the work loop, and
// one of them meets account main's usage limit: the daemon swaps to backup and finishes the work there.
//   npm run demo                      runs, shows progress and the dashboard's URL, then waits for Ctrl-C
//   npm run demo -- --exit-when-done  cleans up as soon as every task is filed (smoke tests)
import { execFileSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { loadConfig } from "../src/config/loader.js";
import { Daemon } from "../src/daemon/daemon.js";
import { createLogger } from "../src/lib/logger.js";
import { table } from "../src/cli/status-format.js";
import { CLAUDE_BIN, makeClaudeSandbox } from "../test/support/claude-sandbox.js";
import { CURRENT_PINNED, ensureClaude } from "../test/support/claude-install.js";

const exitWhenDone = process.argv.includes("--exit-when-done");

/** The part of GET /status the demo shows. */
interface DemoStatus {
  sessions: { name: string; kind: string; state: string; task: string | null }[];
  accounts: { name: string; state: string }[];
  last_swap: { from: string; to: string; at: string; reason: string } | null;
  swaps: { from: string; to: string; at: string; reason: string }[];
  swap_state: string;
}
const say = (line = ""): void => void process.stdout.write(line + "\n");

try {
  say(execFileSync("tmux", ["-V"], { encoding: "utf8" }).trim() + " found");
  if (!process.env.CLAUDE_FAILOVER_TEST_CLAUDE) {
    say(`Claude Code ${CURRENT_PINNED}: installed into node_modules/.cache on first use…`);
    await ensureClaude(CURRENT_PINNED);
  }
  execFileSync(CLAUDE_BIN, ["--version"], { stdio: "ignore", env: { ...process.env, DISABLE_AUTOUPDATER: "1" } });
} catch (err) {
  say(`missing a prerequisite: ${String(err).split("\n")[0]}`);
  say("needs tmux ≥ 3.2 (apt-get install tmux), `npm ci`, and the npm registry once (the pinned Claude Code CLI).");
  process.exit(1);
}

const sb = await makeClaudeSandbox({ label: "demo", projects: ["alpha", "beta"], pool: { min: 3, max: 3 } });
const { dir, socket, configPath } = sb;
// Everything the agents do stays in the sandbox: the tmux server, and so every agent, gets its HOME,
// and no credential of the machine leaks in.
sb.adoptEnvironment();
const projects = ["alpha", "beta"];

const samples: [string, string, string][] = [
  ["alpha", "hello.md", "---\ntitle: Say hello\n---\nSay hello to the operator in one sentence.\n"],
  ["alpha", "make-file.md", "---\ntitle: Create a file with a tool\npriority: high\n---\nCreate the marker file. MOCK_TOOL: touch created-by-agent.txt\n"],
  ["alpha", "multi-line.md", "---\ntitle: A multi-line prompt\n---\nRead these lines:\n1. the first\n2. the second\n3. the third\nThen answer with a summary.\n"],
  ["beta", "slow.md", "---\ntitle: A slower answer\n---\nThink for a moment before answering. MOCK_DELAY=3000\n"],
  ["beta", "summary.md", "Summarise the state of the beta project in two lines.\n"],
  ["beta", "broken.md", "---\ntitle: [unclosed\npriority: urgent\n---\nThis file cannot be a task: its frontmatter is malformed.\n"],
  ["beta", "limit.md", "---\ntitle: Meets the usage limit\n---\nThe mock answers this one with account main's usage limit (DEMO-LIMIT).\n"],
];
// The mock plays the subscription: main's turn with this prompt gets the usage-limit answer (once),
// the CLI shows its banner and fires StopFailure, and the daemon swaps every session to backup.
sb.api.script({ token: "token-main", prompt: "DEMO-LIMIT", times: 1, respond: { kind: "usage-limit", claim: "five_hour", resetAt: Math.floor(Date.now() / 1000) + 3 * 3600 } });

const logFile = path.join(dir, "daemon.log");
const { default: pino } = await import("pino");
const log = createLogger({ destination: pino.destination({ dest: logFile, sync: true }) });
const daemon = new Daemon({ config: await loadConfig(configPath), log });

let cleaning: Promise<void> | undefined;
const cleanup = (): Promise<void> =>
  (cleaning ??= (async () => {
    await daemon.stop().catch(() => undefined);
    await sb.close();
    say("\ndemo stopped: daemon stopped, private tmux server killed, sandbox removed.");
  })());
process.on("SIGINT", () => void cleanup().then(() => process.exit(0)));
process.on("SIGTERM", () => void cleanup().then(() => process.exit(0)));

await daemon.start();
say(`sandbox:    ${dir}`);
say(`daemon log: ${logFile}`);
say(`dashboard:  ${daemon.url}/     (from another machine: ssh -L ${new URL(daemon.url!).port}:127.0.0.1:${new URL(daemon.url!).port} <this host>)`);
say(`API:        curl ${daemon.url}/status`);
say(`watch:      tmux -L ${socket} attach -t demo-1     (detach: Ctrl-b d)`);
say("");
// Writers drop tasks Maildir-style: write aside, then rename into the inbox.
for (const [project, name, text] of samples) await sb.drop(project, name, text);
say(`dropped ${samples.length} tasks into alpha/inbox and beta/inbox (one malformed on purpose, one that meets main's usage limit)`);

const started = Date.now();
const count = async (p: string, f: "inbox" | "active" | "done" | "failed"): Promise<number> => (await sb.files(p, f)).length;
let lastLine = "";
for (;;) {
  const rows: string[][] = [];
  let filed = 0;
  for (const p of projects) {
    const c = await Promise.all((["inbox", "active", "done", "failed"] as const).map((f) => count(p, f)));
    filed += c[2]! + c[3]!;
    rows.push([p, ...c.map(String)]);
  }
  const status = (await (await fetch(`${daemon.url}/status`)).json()) as DemoStatus;
  const sessions = status.sessions.filter((s) => s.kind === "pool").map((s) => `${s.name}:${s.state}${s.task ? `(${s.task})` : ""}`).join("  ");
  const accounts = status.accounts.map((a) => `${a.name}:${a.state}`).join("  ");
  const swap = status.last_swap ? `   last swap ${status.last_swap.from} → ${status.last_swap.to}` : status.swap_state === "idle" ? "" : `   swap: ${status.swap_state}`;
  const line = `${table(["PROJECT", "INBOX", "ACTIVE", "DONE", "FAILED"], rows)}\n${sessions}\naccounts  ${accounts}${swap}`;
  if (line !== lastLine) {
    say(`[${((Date.now() - started) / 1000).toFixed(0).padStart(3)}s]`);
    say(line);
    say("");
    lastLine = line;
  }
  if (filed >= samples.length) break;
  if (Date.now() - started > 240_000) {
    // The sandbox (and the log with it) goes away with the clean-up: show the log's end first.
    const tail = (await readFile(logFile, "utf8").catch(() => "")).trimEnd().split("\n").slice(-40).join("\n");
    say(`the demo did not finish within 4 minutes; the daemon log's last lines:\n${tail}`);
    await cleanup();
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 1000));
}

say(`all ${samples.length} tasks filed in ${((Date.now() - started) / 1000).toFixed(1)} s. Results:`);
for (const p of projects) {
  for (const f of ["done", "failed"] as const) {
    for (const n of await sb.files(p, f)) say(`  ${path.join(sb.queueRoot, p, f, n)}`);
  }
}
const final = (await (await fetch(`${daemon.url}/status`)).json()) as DemoStatus;
for (const x of [...final.swaps].reverse()) say(`\nswap ${x.from} → ${x.to} at ${x.at}: ${x.reason}`);
const example = await sb.read("alpha", "done", "hello.md").catch(() => "");
if (example) say(`\n--- alpha/done/hello.md ---\n${example}---`);
if (exitWhenDone) {
  await cleanup();
  process.exit(0);
}
say(`\nthe pool and the dashboard are still up: ${daemon.url}/   ·   tmux -L ${socket} attach -t demo-1   ·   Ctrl-C here stops and cleans up.`);
