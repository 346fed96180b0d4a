/**
 * `tsx scripts/capture-screens.ts BIN OUTDIR [--auto-continue]`: draws a Claude Code binary's screens
 * against the mock model API (test/support/capture-cli.ts) and writes them as fixtures, with a
 * manifest (name → expected state) and what the paste and auto-continue probes saw.
 */
import { execFileSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { captureScreens } from "../test/support/capture-cli.js";

const [bin, out] = process.argv.slice(2);
if (!bin || !out) {
  process.stderr.write("usage: tsx scripts/capture-screens.ts BIN OUTDIR [--auto-continue]\n");
  process.exit(2);
}
const version = /^(\d+\.\d+\.\d+)/.exec(execFileSync(bin, ["--version"], { encoding: "utf8", env: { ...process.env, DISABLE_AUTOUPDATER: "1" } }).trim())?.[1] ?? "unknown";
const run = await captureScreens(bin, version, { autoContinueMs: process.argv.includes("--auto-continue") ? 150_000 : 0 });
await mkdir(out, { recursive: true });
for (const c of run.captures) await writeFile(path.join(out, `${c.name}.txt`), c.text);
const manifest = { version, captured: new Date().toISOString().slice(0, 10), expect: Object.fromEntries(run.captures.map((c) => [c.name, c.expect])), pasteSeen: run.pasteSeen?.slice(0, 300), autoContinue: run.autoContinue, errors: run.errors };
await writeFile(path.join(out, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(manifest, null, 2)}\n`);
