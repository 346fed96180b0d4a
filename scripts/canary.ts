/**
 * `npm run canary -- --claude VERSION|latest [--only SUBSTR …] [--out FILE]`: before upgrading
 * Claude Code, install that version into a cache (npm registry only), draw its screens against the
 * mock model API and classify them, probe paste handling and its own continue-at-reset, run the
 * e2e tier against it (CLAUDE_FAILOVER_TEST_CLAUDE), and print what changed as Markdown.
 * Exit 0 when nothing changed, 1 when something did.
 */
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { classifyScreen } from "../src/claude/screen.js";
import { EXPECTED_332 } from "../src/claude/test-screens.js";
import { captureScreens } from "../test/support/capture-cli.js";
import { ensureClaude } from "../test/support/claude-install.js";
import { REPO } from "../test/support/claude-sandbox.js";

const args = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const wanted = arg("--claude");
if (!wanted) {
  process.stderr.write("usage: npm run canary -- --claude VERSION|latest [--only SUBSTR …] [--out FILE]\n");
  process.exit(2);
}
const only = args.flatMap((a, i) => (args[i - 1] === "--only" ? [a] : []));

const { version, bin } = await ensureClaude(wanted);
process.stderr.write(`canary: Claude Code ${version} at ${bin}\n`);
const lines: string[] = [`# Canary: Claude Code ${version}`, "", `Run ${new Date().toISOString()} by \`npm run canary -- --claude ${wanted}\` against the mock model API.`, ""];
let changed = 0;

// 1. Screens: each drawn by the new version, classified, compared with what the current captures say.
const run = await captureScreens(bin, version, { autoContinueMs: args.includes("--auto-continue") ? 150_000 : 0 });
lines.push("## Screens", "", "| screen | expected | classified | |", "|---|---|---|---|");
for (const c of run.captures) {
  const v = classifyScreen(c.text, { now: Date.now(), hostZone: "UTC" });
  const expected = EXPECTED_332[`${c.name}.txt`]?.state ?? c.expect.split(" ")[0]!;
  const same = v.state === expected;
  if (!same) changed++;
  lines.push(`| ${c.name} | ${expected} | ${v.state} (${v.detail}) | ${same ? "same" : "**CHANGED**"} |`);
}
for (const e of run.errors) {
  changed++;
  lines.push("", `Scenario not completed: \`${e.split("\n")[0]!.slice(0, 200)}\``);
}

// 2. Paste handling and the CLI's own continue-at-reset.
const wrapped = run.pasteSeen === undefined ? "not seen" : /<pasted_content id=/.test(run.pasteSeen) ? "wrapped in `<pasted_content>`" : "raw";
lines.push("", "## Paste", "", `A paste over 800 characters reached the model ${wrapped} (2.1.332: wrapped; 2.1.197: raw). The mock unwraps it.`);
if (run.autoContinue) {
  lines.push("", "## Continue at reset", "", `autoContinueAtUsageLimit on: ${run.autoContinue.on ? "continued by itself" : "did not continue"}; off (the daemon's setting): ${run.autoContinue.off ? "**continued anyway**" : "did not continue"}.`);
  if (run.autoContinue.off) changed++;
}

// 3. The e2e tier, one file at a time, against this binary: failing tests name the hooks and paths that changed.
const files = readdirSync(path.join(REPO, "test", "e2e")).filter((f) => f.endsWith(".test.ts") && (only.length === 0 || only.some((o) => f.includes(o)))).sort();
lines.push("", "## e2e tier", "", "| file | passed | failed | failing tests |", "|---|---|---|---|");
for (const f of files) {
  const r = await runTestFile(path.join("test", "e2e", f), bin);
  if (r.failed > 0 || r.code !== 0) changed++;
  lines.push(`| ${f} | ${r.passed} | ${r.failed} | ${r.failing.map((n) => n.slice(0, 120)).join("; ") || (r.code !== 0 ? `exit ${r.code}` : "")} |`);
}
if (only.length > 0) lines.push("", `Only the files matching ${only.map((o) => `\`${o}\``).join(", ")} were run.`);
lines.push("", changed === 0 ? "**Nothing changed.**" : `**${changed} change(s)**: read them before upgrading.`, "");

const report = lines.join("\n");
process.stdout.write(report);
const out = arg("--out");
if (out) await writeFile(out, report);
process.exit(changed === 0 ? 0 : 1);

function runTestFile(file: string, claudeBin: string): Promise<{ passed: number; failed: number; failing: string[]; code: number }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "--test", "--test-reporter=tap", "--test-timeout=600000", file], {
      cwd: REPO, env: { ...process.env, CLAUDE_FAILOVER_TEST_CLAUDE: claudeBin, NODE_ENV: "test" }, stdio: ["ignore", "pipe", "inherit"],
    });
    let tap = "";
    child.stdout.on("data", (c: Buffer) => (tap += c.toString("utf8")));
    child.on("close", (code) => {
      const count = (k: string): number => Number(new RegExp(`^# ${k} (\\d+)`, "m").exec(tap)?.[1] ?? 0);
      const failing = [...tap.matchAll(/^ {4}not ok \d+ - (.*)$/gm)].map((m) => m[1]!);
      resolve({ passed: count("pass"), failed: count("fail"), failing, code: code ?? 1 });
    });
  });
}
