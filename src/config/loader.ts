import { realpathSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { AppError, errnoOf } from "../lib/errors.js";
import { configSchema, type Config } from "./schema.js";

export const DEFAULT_CONFIG_PATH = "/etc/claude-failover/config.yaml";
const MAX_CONFIG_BYTES = 1024 * 1024;

/** The configuration could not be used; `problems` lists every one, each prefixed by its key path. */
export class ConfigError extends AppError {
  readonly file: string;
  readonly problems: readonly string[];
  constructor(file: string, problems: readonly string[], options?: { cause?: unknown }) {
    super("CONFIG_INVALID", `invalid configuration ${file}:\n${problems.map((p) => `  - ${p}`).join("\n")}`, options);
    this.file = file;
    this.problems = problems;
  }
}

/** Where the config is read from: --config, then CLAUDE_FAILOVER_CONFIG, then the default. */
export function resolveConfigPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? env.CLAUDE_FAILOVER_CONFIG ?? DEFAULT_CONFIG_PATH;
}

/** Formats a zod key path as the operator wrote it: `accounts[1].home`. */
export function formatKeyPath(keys: readonly PropertyKey[]): string {
  let out = "";
  for (const k of keys) {
    if (typeof k === "number") out += `[${k}]`;
    else out += out === "" ? String(k) : `.${String(k)}`;
  }
  return out === "" ? "(top level)" : out;
}

function formatIssue(issue: z.core.$ZodIssue): string {
  const where = formatKeyPath(issue.path);
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((k) => `${formatKeyPath([...issue.path, k])}: unknown key`).join("\n");
  }
  if (issue.code === "invalid_key") {
    return `${where}: invalid key: ${issue.issues.map((i) => i.message).join("; ")}`;
  }
  if (issue.code === "invalid_type") {
    const received = issue.message.match(/received (\w+)/)?.[1];
    return `${where}: expected ${issue.expected}${received ? `, got ${received}` : ""}`;
  }
  return `${where}: ${issue.message}`;
}

/** Expands a leading `~` and makes the path absolute (relative paths are taken from the config file's folder). */
export function expandPath(p: string, baseDir: string, home = os.homedir()): string {
  let out = p;
  if (out === "~") out = home;
  else if (out.startsWith("~/")) out = path.join(home, out.slice(2));
  return path.resolve(baseDir, out);
}

/** Validates an already-parsed document; returns the config with every path expanded. */
export function validateConfig(raw: unknown, file: string, home = os.homedir()): Config {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new ConfigError(file, [`(top level): expected a mapping of keys, got ${raw === null ? "an empty document" : Array.isArray(raw) ? "a list" : typeof raw}`]);
  }
  const base = path.dirname(path.resolve(file));
  const x = (p: string): string => expandPath(p, base, home);
  const parsed = configSchema.safeParse(raw);
  // Read from the raw document, so a shared home is reported with the schema's problems, all at once.
  const homeIssues = sharedHomes((raw as { accounts?: unknown }).accounts, x);
  if (!parsed.success) {
    throw new ConfigError(file, [...parsed.error.issues.flatMap((i) => formatIssue(i).split("\n")), ...homeIssues]);
  }
  const c = parsed.data;
  const config: Config = {
    ...c,
    state_dir: x(c.state_dir),
    claude: { ...c.claude, link: x(c.claude.link), shared_root: x(c.claude.shared_root) },
    accounts: c.accounts.map((a) => ({ ...a, home: x(a.home) })),
    pool: {
      autonomous: { ...c.pool.autonomous, cwd: x(c.pool.autonomous.cwd) },
      dedicated: c.pool.dedicated.map((d) => ({ ...d, cwd: x(d.cwd) })),
    },
    queue: { ...c.queue, root: x(c.queue.root), projects: Object.fromEntries(Object.entries(c.queue.projects).map(([k, v]) => [k, x(v)])) },
  };
  const problems: string[] = [...homeIssues];
  config.accounts.forEach((a, i) => {
    if (a.home === config.claude.link) problems.push(`accounts[${i}].home: is the claude link itself (${a.home}); a home must be a real folder the link points at`);
  });
  if (problems.length > 0) throw new ConfigError(file, problems);
  return config;
}

/**
 * Two accounts on one home would share one login and one ledger entry: each later one is reported,
 * also when a path reaches the folder through a symbolic link (compared by real path when it exists).
 */
function sharedHomes(accounts: unknown, x: (p: string) => string): string[] {
  if (!Array.isArray(accounts)) return [];
  const problems: string[] = [];
  const seen = new Map<string, { index: number; written: string }>();
  accounts.forEach((a: unknown, i) => {
    const home = (a as { home?: unknown } | null)?.home;
    if (typeof home !== "string" || home === "") return;
    const written = x(home);
    let real = written;
    try {
      real = realpathSync.native(written);
    } catch {
      // Not there yet: compared as written (doctor and run report the missing folder).
    }
    const prev = seen.get(real);
    if (prev === undefined) {
      seen.set(real, { index: i, written });
      return;
    }
    const how = written === prev.written ? written : `${written} and ${prev.written} are both ${real}`;
    problems.push(`accounts[${i}].home: same folder as accounts[${prev.index}].home (${how})`);
  });
  return problems;
}

/** Parses YAML text into a validated config; every problem is reported at once. */
export function parseConfigText(text: string, file: string, home = os.homedir()): Config {
  if (text.includes("\u0000")) throw new ConfigError(file, ["(file): contains NUL bytes: not a YAML text file"]);
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true, strict: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(file, doc.errors.map((e) => `(yaml) ${e.message.split("\n")[0] ?? e.message}${e.linePos?.[0] ? ` (line ${e.linePos[0].line}, column ${e.linePos[0].col})` : ""}`));
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError(file, [`(yaml) ${err instanceof Error ? err.message : String(err)}`], { cause: err });
  }
  return validateConfig(raw, file, home);
}

/** Reads and validates the config file. Throws ConfigError (exit code 2) on any problem. */
export async function loadConfig(file: string, home = os.homedir()): Promise<Config> {
  let size: number;
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new ConfigError(file, [`(file): not a regular file`]);
    size = st.size;
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = errnoOf(err);
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : (err as Error).message;
    throw new ConfigError(file, [`(file): cannot read: ${why}`], { cause: err });
  }
  if (size > MAX_CONFIG_BYTES) throw new ConfigError(file, [`(file): ${size} bytes, larger than the 1 MiB a config may be`]);
  const bytes = await readFile(file).catch((err: unknown) => {
    throw new ConfigError(file, [`(file): cannot read: ${(err as Error).message}`], { cause: err });
  });
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (err) {
    throw new ConfigError(file, [`(file): not valid UTF-8 text`], { cause: err });
  }
  return parseConfigText(text, file, home);
}
