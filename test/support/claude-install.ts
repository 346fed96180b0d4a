/**
 * A Claude Code version other than the pinned one, installed on first use into a cache beside
 * node_modules (only the npm registry is needed): the oldest-supported smoke and the canary use it.
 * The wrapper package's `engines` may ask for a newer Node than the project's; only its native
 * binary is run, so engines are not enforced and install scripts are not run.
 */
import { execFile } from "node:child_process";
import { access, constants, mkdir } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { REPO } from "./claude-sandbox.js";

const run = promisify(execFile);
/** The oldest Claude Code version this project supports (its captures stay in the classifier's tests). */
export const OLDEST_SUPPORTED = "2.1.197";
const VERSION = /^(?:\d+\.\d+\.\d+(?:-[\w.]+)?|latest)$/;

/** The native binary of the installed platform package, for this machine. */
export function platformBinary(prefix: string): string {
  const arch = process.arch === "arm64" ? "arm64" : "x64";
  return path.join(prefix, "node_modules", "@anthropic-ai", `claude-code-${process.platform}-${arch}`, "claude");
}

/**
 * Installs `@anthropic-ai/claude-code@version` (or `latest`, resolved first) into
 * `<prefix or the cache>/claude-<version>` unless it is there; resolves to its version and binary.
 */
export async function ensureClaude(version: string, prefixRoot = path.join(REPO, "node_modules", ".cache", "claude-failover")): Promise<{ version: string; bin: string }> {
  if (!VERSION.test(version)) throw new Error(`not a Claude Code version: ${JSON.stringify(version)}`);
  let exact = version;
  if (version === "latest") exact = (await run("npm", ["view", "@anthropic-ai/claude-code@latest", "version"], { timeout: 60_000 })).stdout.trim();
  const prefix = path.join(prefixRoot, `claude-${exact}`);
  const bin = platformBinary(prefix);
  const present = await access(bin, constants.X_OK).then(() => true, () => false);
  if (!present) {
    await mkdir(prefix, { recursive: true });
    await run("npm", ["install", "--prefix", prefix, "--no-save", "--no-audit", "--no-fund", "--engine-strict=false", "--ignore-scripts", `@anthropic-ai/claude-code@${exact}`], { timeout: 300_000 });
    await access(bin, constants.X_OK);
  }
  return { version: exact, bin };
}
