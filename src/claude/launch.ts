import { readFile, realpath, stat } from "node:fs/promises";
import path from "node:path";
import { ensureDir, writeFileAtomic } from "../lib/atomic-fs.js";
import { AppError, isNotFound } from "../lib/errors.js";
import { shellJoin, shellQuote } from "../lib/shell-quote.js";

/** A launch line or an account home that cannot be used as asked. */
export class LaunchError extends AppError {
  constructor(
    code: "LAUNCH_BAD_SESSION_ID" | "LAUNCH_BAD_ARGUMENT" | "LAUNCH_CONFLICTING_ARG" | "CLAUDE_CONFIG_MALFORMED",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/** A Claude Code session id: a UUID, 36 characters of hex digits and dashes (8-4-4-4-12). */
const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isValidSessionId(id: string): boolean {
  return SESSION_ID.test(id);
}

export function assertSessionId(id: string): void {
  if (!isValidSessionId(id)) {
    throw new LaunchError("LAUNCH_BAD_SESSION_ID", `invalid Claude session id ${JSON.stringify(id.slice(0, 80))}: expected a UUID (36 characters, hex digits and dashes)`);
  }
}

/** Options the daemon owns: an operator's `claude.args` may not set them too. */
const OWNED_FLAGS = new Set(["--session-id", "--resume", "-r", "--continue", "-c", "--fork-session", "--settings"]);
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface LaunchSpec {
  /** The claude binary (`claude.command`). */
  command: string;
  /** Operator arguments (`claude.args`), e.g. `--dangerously-skip-permissions`. */
  args: readonly string[];
  /** The account's config dir, passed as CLAUDE_CONFIG_DIR. */
  home: string;
  sessionId: string;
  /** The hooks settings file, passed with `--settings`. */
  settingsFile: string;
  /** Resume the session (`--resume <id>`) instead of starting it (`--session-id <id>`). */
  resume?: boolean;
  /** Extra environment shown on the launch line. CLAUDE_CONFIG_DIR is always `home`. */
  env?: Readonly<Record<string, string>>;
  /**
   * Environment that must never be typed or shown (`claude.env` and the account's `env` / `env_from`):
   * it reaches the agent through a private env file (launch-env.ts).
   */
  privateEnv?: Readonly<Record<string, string>>;
  /**
   * The agent runs as root: Claude Code then refuses `--dangerously-skip-permissions` unless
   * IS_SANDBOX=1 is set, so it is added (when the environment does not set it already).
   */
  runningAsRoot?: boolean;
}

export interface LaunchCommand {
  argv: string[];
  /** Shown on the typed line: only the daemon's own, non-secret variables. */
  env: Record<string, string>;
  /** Never typed: handed over through a private env file. */
  privateEnv?: Record<string, string>;
}

/**
 * The agent's launch line (contract S4): `CLAUDE_CONFIG_DIR=<home> <command> <args> --session-id <uuid>
 * --settings <file>`, or `--resume <uuid>` in place of `--session-id`.
 */
export function buildLaunchCommand(spec: LaunchSpec): LaunchCommand {
  assertSessionId(spec.sessionId);
  if (spec.command.trim() === "") throw new LaunchError("LAUNCH_BAD_ARGUMENT", "claude.command is empty");
  for (const [what, p] of [["home", spec.home], ["settings file", spec.settingsFile]] as const) {
    if (!path.isAbsolute(p)) throw new LaunchError("LAUNCH_BAD_ARGUMENT", `${what} must be an absolute path, got ${JSON.stringify(p)}`);
  }
  for (const arg of spec.args) {
    const flag = arg.split("=", 1)[0]!;
    if (OWNED_FLAGS.has(flag)) {
      throw new LaunchError("LAUNCH_CONFLICTING_ARG", `claude.args must not contain ${flag}: the daemon sets the session id, resume and settings itself`);
    }
  }
  const env = checkedEnv(spec.env);
  const privateEnv = checkedEnv(spec.privateEnv);
  // The home is the daemon's choice, whatever either environment says.
  delete privateEnv.CLAUDE_CONFIG_DIR;
  env.CLAUDE_CONFIG_DIR = spec.home;
  if (spec.runningAsRoot && spec.args.includes("--dangerously-skip-permissions") && env.IS_SANDBOX === undefined && privateEnv.IS_SANDBOX === undefined) env.IS_SANDBOX = "1";
  const idFlag = spec.resume ? "--resume" : "--session-id";
  const argv = [spec.command, ...spec.args, idFlag, spec.sessionId, "--settings", spec.settingsFile];
  return Object.keys(privateEnv).length > 0 ? { argv, env, privateEnv } : { argv, env };
}

function checkedEnv(source: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(source ?? {})) {
    if (!ENV_NAME.test(name)) throw new LaunchError("LAUNCH_BAD_ARGUMENT", `invalid environment variable name ${JSON.stringify(name)}`);
    env[name] = value;
  }
  return env;
}

/** The launch as one shell line (`NAME=value … argv`), for logs and tests; `privateEnv` is never part of it. */
export function toShellLine(launch: LaunchCommand): string {
  const assignments = Object.entries(launch.env).map(([k, v]) => `${k}=${shellQuote(v)}`);
  return [...assignments, shellJoin(launch.argv)].join(" ");
}

export interface PrepareHomeOptions {
  home: string;
  /** The working directory the agent will run in: its folder-trust dialog is pre-accepted. */
  cwd: string;
  /** Written as `lastOnboardingVersion` when absent (the installed Claude Code version). */
  version?: string;
  /** When the account uses an API key: its last 20 characters are pre-approved. */
  apiKey?: string;
  /** Theme written when the operator set none. */
  theme?: string;
}

export interface PrepareHomeResult {
  /** What was changed, as `file: key` (empty when everything was already in place). */
  changed: string[];
}

type Json = Record<string, unknown>;

/**
 * Makes an account's config dir start straight at the idle prompt for `cwd`: onboarding done,
 * folder trusted, API key approved, bypass-permissions prompt skipped. Merges into the existing
 * `.claude.json` and `settings.json`, keeping every key it does not need; a file that is not a JSON
 * object is refused, never overwritten.
 */
export async function prepareAccountHome(options: PrepareHomeOptions): Promise<PrepareHomeResult> {
  if (!path.isAbsolute(options.home)) throw new LaunchError("LAUNCH_BAD_ARGUMENT", `account home must be an absolute path, got ${JSON.stringify(options.home)}`);
  // Each call reads .claude.json, merges and writes it back: two at once for the same home (agents
  // launched side by side in different folders) would lose one's folder trust. One at a time per home.
  const key = path.resolve(options.home);
  const run = (preparing.get(key) ?? Promise.resolve()).then(() => prepareNow(options));
  const tail = run.then(() => undefined, () => undefined);
  preparing.set(key, tail);
  void tail.then(() => {
    if (preparing.get(key) === tail) preparing.delete(key);
  });
  return run;
}

/** The preparation running (or last queued) per account home. */
const preparing = new Map<string, Promise<void>>();

async function prepareNow(options: PrepareHomeOptions): Promise<PrepareHomeResult> {
  await ensureDir(options.home);
  const changed: string[] = [];

  const configFile = path.join(options.home, ".claude.json");
  const config = await readJsonObject(configFile);
  const before = JSON.stringify(config.value);
  // Without this the onboarding dialogs block an unattended session, whatever the operator's value.
  if (config.value.hasCompletedOnboarding !== true) {
    config.value.hasCompletedOnboarding = true;
    changed.push(".claude.json: hasCompletedOnboarding");
  }
  if (options.version !== undefined && config.value.lastOnboardingVersion === undefined) {
    config.value.lastOnboardingVersion = options.version;
    changed.push(".claude.json: lastOnboardingVersion");
  }
  const projects = objectAt(config.value, "projects", configFile);
  for (const dir of await trustKeys(options.cwd)) {
    const project = objectAt(projects, dir, `${configFile} projects`);
    if (project.hasTrustDialogAccepted !== true) {
      project.hasTrustDialogAccepted = true;
      changed.push(`.claude.json: projects[${dir}].hasTrustDialogAccepted`);
    }
  }
  if (options.apiKey !== undefined && options.apiKey !== "") {
    const responses = objectAt(config.value, "customApiKeyResponses", configFile);
    const approved = arrayAt(responses, "approved", `${configFile} customApiKeyResponses`);
    if (!Array.isArray(responses.rejected)) responses.rejected = [];
    const tail = options.apiKey.slice(-20);
    if (!approved.includes(tail)) {
      approved.push(tail);
      changed.push(".claude.json: customApiKeyResponses.approved");
    }
  }
  if (JSON.stringify(config.value) !== before) await writeFileAtomic(configFile, `${JSON.stringify(config.value, null, 2)}\n`, config.mode);

  const settingsFile = path.join(options.home, "settings.json");
  const settings = await readJsonObject(settingsFile);
  const settingsBefore = JSON.stringify(settings.value);
  if (settings.value.theme === undefined) {
    settings.value.theme = options.theme ?? "dark";
    changed.push("settings.json: theme");
  }
  if (settings.value.skipDangerousModePermissionPrompt !== true) {
    settings.value.skipDangerousModePermissionPrompt = true;
    changed.push("settings.json: skipDangerousModePermissionPrompt");
  }
  if (JSON.stringify(settings.value) !== settingsBefore) await writeFileAtomic(settingsFile, `${JSON.stringify(settings.value, null, 2)}\n`, settings.mode);
  return { changed };
}

/** The folder the trust check looks up: the absolute cwd, and its real path when a symlink leads there. */
async function trustKeys(cwd: string): Promise<string[]> {
  const absolute = path.resolve(cwd);
  const real = await realpath(absolute).catch(() => absolute);
  return real === absolute ? [absolute] : [absolute, real];
}

async function readJsonObject(file: string): Promise<{ value: Json; mode: number }> {
  let text: string;
  let mode = 0o600;
  try {
    mode = (await stat(file)).mode & 0o777;
    text = await readFile(file, "utf8");
  } catch (err) {
    if (isNotFound(err)) return { value: {}, mode };
    throw err;
  }
  if (text.trim() === "") return { value: {}, mode };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new LaunchError("CLAUDE_CONFIG_MALFORMED", `${file} is not valid JSON (${(err as Error).message}); fix or remove it — it is left untouched`, { cause: err });
  }
  if (!isObject(parsed)) throw new LaunchError("CLAUDE_CONFIG_MALFORMED", `${file} must hold a JSON object, found ${describeJson(parsed)}; it is left untouched`);
  return { value: parsed, mode };
}

function objectAt(parent: Json, key: string, where: string): Json {
  const current = parent[key];
  if (current === undefined) {
    const fresh: Json = {};
    parent[key] = fresh;
    return fresh;
  }
  if (!isObject(current)) throw new LaunchError("CLAUDE_CONFIG_MALFORMED", `${where}: "${key}" must be an object, found ${describeJson(current)}; it is left untouched`);
  return current;
}

function arrayAt(parent: Json, key: string, where: string): unknown[] {
  const current = parent[key];
  if (current === undefined) {
    const fresh: unknown[] = [];
    parent[key] = fresh;
    return fresh;
  }
  if (!Array.isArray(current)) throw new LaunchError("CLAUDE_CONFIG_MALFORMED", `${where}: "${key}" must be an array, found ${describeJson(current)}; it is left untouched`);
  return current;
}

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function describeJson(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "an array" : typeof v;
}

/** The hook events the daemon listens to. */
export const HOOK_EVENTS = ["Stop", "StopFailure", "SessionStart", "SessionEnd", "Notification", "UserPromptSubmit"] as const;
export type HookEventName = (typeof HOOK_EVENTS)[number];

/** Seconds Claude Code gives a hook before cancelling it; the hook command bounds itself well below. */
const HOOK_TIMEOUT_SECONDS = 10;

/** The settings object whose hooks run `<hookCommand> <EVENT>` for every event in HOOK_EVENTS. */
export function hookSettings(hookCommand: readonly string[]): { hooks: Record<HookEventName, unknown[]> } {
  if (hookCommand.length === 0 || hookCommand[0] === "") throw new LaunchError("LAUNCH_BAD_ARGUMENT", "hook command is empty");
  const hooks = {} as Record<HookEventName, unknown[]>;
  for (const event of HOOK_EVENTS) {
    // No matcher: the group then applies to every source, reason and notification type.
    hooks[event] = [{ hooks: [{ type: "command", command: shellJoin([...hookCommand, event]), timeout: HOOK_TIMEOUT_SECONDS }] }];
  }
  return { hooks };
}
