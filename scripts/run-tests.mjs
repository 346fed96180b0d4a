#!/usr/bin/env node
// Runs every *.test.ts under src/ and test/ with node:test through tsx.
// Node 20's --test takes no globs, so the files are listed here.
//   --fast   leave out the end-to-end tier (test/e2e), which drives the real Claude Code CLI; a few fast tests
//            still start a private tmux server (docs/architecture.md says which and why), so tmux must be installed
//   other arguments are passed to node --test (e.g. --test-name-pattern=...)
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const fast = args.includes("--fast");
const passThrough = args.filter((a) => a !== "--fast" && a.startsWith("--"));
const only = args.filter((a) => !a.startsWith("--"));

function find(dir) {
  let entries;
  try {
    entries = readdirSync(path.join(root, dir), { recursive: true, withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .filter((e) => e.isFile() && e.name.endsWith(".test.ts"))
    .map((e) => path.relative(root, path.join(e.parentPath ?? e.path, e.name)));
}

let files = [...find("src"), ...find("test")].sort();
if (fast) files = files.filter((f) => !f.startsWith(path.join("test", "e2e")));
if (only.length > 0) files = files.filter((f) => only.some((o) => f.includes(o)));
if (files.length === 0) {
  console.error("run-tests: no test files matched");
  process.exit(1);
}

// The dashboard's browser test drives Debian's chromium: installed here when missing (as root, through apt-get).
if (files.some((f) => f.startsWith(path.join("test", "e2e", "dashboard")))) {
  const chromium = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
  if (!existsSync(chromium)) {
    const asRoot = process.getuid?.() === 0;
    console.error(`run-tests: ${chromium} is missing; ${asRoot ? "installing Debian's chromium" : "install it with: sudo apt-get install chromium"}`);
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    const ok = asRoot
      && spawnSync("apt-get", ["update", "-qq"], { stdio: "inherit", env }).status === 0
      && spawnSync("apt-get", ["install", "-y", "-qq", "chromium"], { stdio: "inherit", env }).status === 0;
    if (!ok || !existsSync(chromium)) {
      console.error(`run-tests: no chromium at ${chromium}`);
      process.exit(1);
    }
  }
}

// The e2e tier drives the pinned current Claude Code, installed into a cache on first use (its npm wrapper asks
// for a newer Node than engine-strict allows here, so it cannot be a devDependency).
if (files.some((f) => f.startsWith(path.join("test", "e2e")))) {
  const install = spawnSync(process.execPath, ["--import", "tsx", "scripts/install-claude.ts"], { cwd: root, stdio: "inherit" });
  if (install.status !== 0) {
    console.error("run-tests: could not install the pinned Claude Code CLI for the e2e tier");
    process.exit(1);
  }
}

const result = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-concurrency=2", "--test-timeout=300000", ...passThrough, ...files],
  { cwd: root, stdio: "inherit", env: { ...process.env, NODE_ENV: "test" } },
);
process.exit(result.status ?? 1);
