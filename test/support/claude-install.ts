/**
 * Claude Code versions for the e2e tier: the devDependency is the oldest supported one (it installs on
 * Node 20); any other — the current one the tier runs against, a canary's — is installed on first use
 * into a cache beside node_modules (only the npm registry is needed).
 * The wrapper package's `engines` may ask for a newer Node than the project's; only its native
 * binary is run, so engines are not enforced and install scripts are not run.
 */
import { execFile } from "node:child_process";
import { access, constants, mkdir } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { readFileSync } from "node:fs";
import { REPO } from "./repo.js";

const run = promisify(execFile);
/** The oldest Claude Code version this project supports (its captures stay in the classifier's tests): the devDependency. */
export const OLDEST_SUPPORTED = "2.1.197";
/**
 * The current Claude Code the e2e tier, the demo and the bench run. Its npm wrapper asks for Node ≥ 22, so it
 * cannot be a devDependency under engine-strict on Node 20: the test runner installs it into the cache.
 */
export const CURRENT_PINNED = "2.1.332";
const CACHE = path.join(REPO, "node_modules", ".cache", "claude-failover");

/** Where `version`'s binary is once installed (the devDependency's own for its version). */
export function claudeBinary(version: string): string {
  return version === devDependencyVersion() ? platformBinary(REPO) : platformBinary(path.join(CACHE, `claude-${version}`));
}

function devDependencyVersion(): string | undefined {
  try {
    return (JSON.parse(readFileSync(path.join(REPO, "node_modules", "@anthropic-ai", "claude-code", "package.json"), "utf8")) as { version?: string }).version;
  } catch {
    return undefined;
  }
}
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
export async function ensureClaude(version: string): Promise<{ version: string; bin: string }> {
  if (!VERSION.test(version)) throw new Error(`not a Claude Code version: ${JSON.stringify(version)}`);
  let exact = version;
  if (version === "latest") exact = (await run("npm", ["view", "@anthropic-ai/claude-code@latest", "version"], { timeout: 60_000 })).stdout.trim();
  if (exact === devDependencyVersion()) return { version: exact, bin: claudeBinary(exact) };
  const prefix = path.join(CACHE, `claude-${exact}`);
  const bin = platformBinary(prefix);
  const present = await access(bin, constants.X_OK).then(() => true, () => false);
  if (!present) {
    await mkdir(prefix, { recursive: true });
    await run("npm", ["install", "--prefix", prefix, "--no-save", "--no-audit", "--no-fund", "--engine-strict=false", "--ignore-scripts", `@anthropic-ai/claude-code@${exact}`], { timeout: 300_000 });
    await access(bin, constants.X_OK);
  }
  return { version: exact, bin };
}
