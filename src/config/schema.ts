import { z } from "zod";
import { parseDuration } from "../lib/duration.js";
import { isLoopbackHost } from "../lib/net.js";

/**
 * The configuration file's schema (contract §3), the one source for validation, defaults and the JSON
 * Schema in deploy/. Keys keep the file's snake_case so an error's key path is what the operator wrote;
 * durations come out as milliseconds and paths as given (the loader expands `~` and makes them absolute).
 */

/**
 * A duration string such as `500ms`, `30s`, `5m`, `2h`, `30d`; parsed to milliseconds and held within
 * [min, max]: a zero poll spins, and a wait past Node's timer limit (~24.8 days) fires at once.
 */
const duration = (def: string, min: string, max: string, description: string) => {
  const minMs = parseDuration(min)!;
  const maxMs = parseDuration(max)!;
  return z
    .string()
    .transform((text, ctx) => {
      const ms = parseDuration(text);
      if (ms === undefined) {
        ctx.addIssue({ code: "custom", message: `expected a duration such as 500ms, 30s, 5m, 2h or 30d (got ${JSON.stringify(text)})` });
        return z.NEVER;
      }
      if (ms < minMs || ms > maxMs) {
        ctx.addIssue({ code: "custom", message: `must lie between ${min} and ${max} (got ${JSON.stringify(text)})` });
        return z.NEVER;
      }
      return ms;
    })
    .prefault(def)
    .describe(`${description} (${min}..${max})`);
};

/** Every duration key with its [min, max], for the docs and the table test. */
export const DURATION_LIMITS: Record<string, { min: string; max: string }> = {};
const limited = (key: string, def: string, min: string, max: string, description: string) => {
  DURATION_LIMITS[key] = { min, max };
  return duration(def, min, max, description);
};

/** Names of environment variables (never secret values) for tokens and keys. */
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "expected an environment variable name ([A-Za-z_][A-Za-z0-9_]*)");
/** tmux session names: tmux rewrites `.` and `:` so they are not allowed. */
const sessionName = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "expected 1–64 characters of [A-Za-z0-9_-] (tmux rewrites '.' and ':')");
const accountName = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "expected 1–64 characters of [A-Za-z0-9._-]");
const projectName = z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, "expected [A-Za-z0-9._-]").refine((s) => s !== "." && s !== "..", "may not be . or ..");
// YAML reads a bare `~` as null; the operator who writes `shared_root: ~` means the home folder.
const path = z.preprocess((v) => (v === null ? "~" : v), z.string().min(1, "expected a path"));
const envMap = z.record(envName, z.string());
const url = (def: string, description: string) =>
  z.string().refine((s) => s === "" || /^https?:\/\/[^\s]+$/.test(s), "expected an http(s) URL or \"\"").default(def).describe(description);

/** `queue.projects.<name>`: a plain path (isolation none), or the object form with the worktree settings. */
const projectEntry = z.union([
  path,
  z.strictObject({
    path: path.describe("the project's working directory"),
    isolation: z.enum(["none", "worktree"]).default("none").describe("worktree: each task runs in its own git worktree on branch cf/<project>/<id>"),
    max_parallel: z.number().int().min(1).max(1000).optional().describe("tasks of this project running at once; default unlimited for worktree, 1 for none in a git repository"),
    base: z.string().regex(/^[^\s\0-]\S{0,199}$/, "expected a commit or branch name (no spaces, not starting with -)").optional().describe("commit or branch the task branches start from; default the project's HEAD at claim"),
  }),
]);

/** Per-project settings beside the paths (`queue.project_settings`, derived from the object form). */
export interface ProjectSettings {
  isolation: "none" | "worktree";
  max_parallel?: number;
  base?: string;
}

const listen = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, "expected host:port, e.g. 127.0.0.1:7420")
  .refine((s) => Number(s.slice(s.lastIndexOf(":") + 1)) <= 65535, "port must be ≤ 65535");

const account = z.strictObject({
  name: accountName.describe("unique name, used in logs, /status and `swap NAME`"),
  home: path.describe("the account's config dir (CLAUDE_CONFIG_DIR)"),
  env: envMap.default({}).describe("extra environment for this account's agents (plain values, no secrets)"),
  env_from: z.record(envName, envName).default({}).describe("agent variable <- name of a daemon environment variable (for secrets)"),
});

const autonomous = z
  .strictObject({
    prefix: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/, "expected [A-Za-z0-9_-]").default("ccl-auto-").describe("pool session names are <prefix><n>"),
    start_index: z.number().int().min(0).max(1_000_000).default(11).describe("first n of the pool range"),
    min: z.number().int().min(0).max(1000).default(2).describe("pool sessions kept alive at all times"),
    max: z.number().int().min(1).max(1000).default(10).describe("size of the range [start_index, start_index+max)"),
    cwd: path.default("~").describe("working directory of idle pool sessions"),
  })
  .superRefine((p, ctx) => {
    if (p.min > p.max) ctx.addIssue({ code: "custom", path: ["min"], message: `must be ≤ max (got ${p.min} > ${p.max})` });
  });

export const configSchema = z
  .strictObject({
    state_dir: path.default("/var/lib/claude-failover").describe("state.json, events.jsonl and the hook spool"),
    http: z
      .strictObject({
        listen: listen.default("127.0.0.1:7420").describe("address of the HTTP API; loopback unless you mean otherwise"),
        token_env: envName.optional().describe("when set, every request needs Authorization: Bearer <value of this variable>; required when listen is not loopback"),
        allowed_hosts: z
          .array(z.string().regex(/^[A-Za-z0-9.-]{1,253}$/, "expected a host name such as cf.example.lan (no port)"))
          .default([])
          .describe("host names a request's Host header may carry besides the listen address, localhost, 127.0.0.1 and [::1]; anything else is refused with 421 (DNS rebinding)"),
      })
      .prefault({}),
    tmux: z
      .strictObject({
        socket: z.string().regex(/^[A-Za-z0-9._-]*$/, "expected a socket name ([A-Za-z0-9._-]) or \"\"").default("").describe("tmux -L socket; \"\" = the default server"),
        width: z.number().int().min(40).max(1000).default(200),
        height: z.number().int().min(10).max(500).default(50),
      })
      .prefault({}),
    claude: z
      .strictObject({
        command: z.string().min(1).default("claude").describe("the Claude Code binary"),
        args: z.array(z.string()).default(["--dangerously-skip-permissions"]).describe("arguments for every agent"),
        link: path.default("~/.claude").describe("symlink pointing at the active account's home"),
        shared_root: path.default("~").describe("folder holding the shared .claude-<name>-shared folders"),
        env: envMap.default({}).describe("extra environment for every agent (plain values)"),
      })
      .prefault({}),
    accounts: z
      .array(account)
      .min(1, "at least one account is required")
      .superRefine((accounts, ctx) => {
        const seen = new Map<string, number>();
        accounts.forEach((a, i) => {
          const first = seen.get(a.name);
          if (first !== undefined) ctx.addIssue({ code: "custom", path: [i, "name"], message: `duplicate account name ${JSON.stringify(a.name)} (also accounts[${first}])` });
          else seen.set(a.name, i);
        });
      })
      .describe("failover order"),
    pool: z
      .strictObject({
        autonomous: autonomous.prefault({}),
        dedicated: z
          .array(z.strictObject({ name: sessionName, cwd: path }))
          .default([])
          .describe("operator sessions: never dispatched to, relaunched with --resume after a swap"),
      })
      .prefault({}),
    queue: z
      .strictObject({
        root: path.default("~/agent-queue").describe("<root>/<project>/{inbox,active,done,failed}"),
        projects: z.record(projectName, projectEntry).default({}).describe("project -> working directory, or { path, isolation, max_parallel, base }"),
        rescan_interval: limited("queue.rescan_interval", "30s", "1s", "1d", "periodic rescan of the inboxes (watcher events are hints)"),
        task_timeout: limited("queue.task_timeout", "2h", "10s", "30d", "default task timeout"),
        settle: limited("queue.settle", "1s", "0s", "1m", "an inbox file is claimed once its size and mtime held this long (0s: writers only ever rename complete files in)"),
        max_attempts: z.number().int().min(1).max(100).default(2),
        git_identity: z
          .strictObject({
            name: z.string().min(1).max(200).default("claude-failover"),
            email: z.string().regex(/^[^\s<>]+@[^\s<>]+$/, "expected an e-mail address").default("claude-failover@localhost"),
          })
          .prefault({})
          .describe("author of the commits that save what an agent left uncommitted in its worktree"),
      })
      .prefault({})
      // Consumers see `projects` as name -> path; the worktree settings sit beside them.
      .transform(({ projects, ...q }) => ({
        ...q,
        projects: Object.fromEntries(Object.entries(projects).map(([k, v]) => [k, typeof v === "string" ? v : v.path])),
        project_settings: Object.fromEntries(Object.entries(projects).map(([k, v]): [string, ProjectSettings] =>
          [k, typeof v === "string" ? { isolation: "none" } : { isolation: v.isolation, ...(v.max_parallel !== undefined ? { max_parallel: v.max_parallel } : {}), ...(v.base !== undefined ? { base: v.base } : {}) }])),
      })),
    watcher: z
      .strictObject({
        poll_interval: limited("watcher.poll_interval", "5s", "100ms", "5m", "screen polling of working sessions"),
        idle_confirm: z.number().int().min(1).max(100).default(2).describe("consecutive idle polls that mean done"),
        stall_timeout: limited("watcher.stall_timeout", "20m", "10s", "7d", "no screen change for this long while working = stalled"),
      })
      .prefault({}),
    quota: z
      .strictObject({
        poll_interval: limited("quota.poll_interval", "10s", "1s", "1h", "usage-limit detection polling"),
        reactivate_cooldown: limited("quota.reactivate_cooldown", "5m", "0s", "1d", "no two swaps within this"),
        confirm_polls: z.number().int().min(1).max(100).default(2),
        usage_api: z.boolean().default(true),
        usage_threshold: z.number().min(0).max(100).default(98),
        usage_api_url: url("https://api.anthropic.com/api/oauth/usage", "OAuth usage endpoint"),
      })
      .prefault({}),
    notifications: z
      .strictObject({
        telegram: z
          .strictObject({
            bot_token_env: envName.default("TELEGRAM_BOT_TOKEN"),
            chat_id: z.string().default(""),
            api_url: url("https://api.telegram.org", "Telegram Bot API"),
          })
          .prefault({}),
        email: z
          .strictObject({
            api_key_env: envName.default("RESEND_API_KEY"),
            from: z.string().default(""),
            to: z.array(z.string().regex(/^[^\s@]+@[^\s@]+$/, "expected an e-mail address")).default([]),
            api_url: url("https://api.resend.com", "Resend API"),
          })
          .prefault({}),
        min_interval: limited("notifications.min_interval", "5m", "0s", "7d", "the same event is not repeated within this"),
      })
      .prefault({}),
    janitor: z
      .strictObject({
        interval: limited("janitor.interval", "1h", "1m", "365d", "how often the janitor runs"),
        done_retention: limited("janitor.done_retention", "30d", "1h", "3650d", "done/ files older than this are pruned"),
        failed_retention: limited("janitor.failed_retention", "90d", "1h", "3650d", "failed/ files older than this are pruned"),
      })
      .prefault({}),
    delegation: z
      .strictObject({
        url: url("", "remote job service; also CCL_SECUTOOLS_URL"),
        poll_interval: limited("delegation.poll_interval", "2s", "100ms", "1h", "job polling"),
        job_timeout: limited("delegation.job_timeout", "30m", "10s", "30d", "a job still not finished after this fails"),
        reap_interval: limited("delegation.reap_interval", "10s", "100ms", "1h", "reaper period"),
        daily_budget_usd: z.number().min(0).default(0).describe("0 = no budget"),
      })
      .prefault({}),
  })
  .superRefine((c, ctx) => {
    const listenHost = c.http.listen.slice(0, c.http.listen.lastIndexOf(":"));
    if (!isLoopbackHost(listenHost) && c.http.token_env === undefined) {
      ctx.addIssue({ code: "custom", path: ["http", "listen"], message: `${c.http.listen} is reachable beyond this host: set http.token_env too (a bearer token), or listen on 127.0.0.1` });
    }
    const auto = c.pool.autonomous;
    const lastName = `${auto.prefix}${auto.start_index + auto.max - 1}`;
    if (lastName.length > 64) ctx.addIssue({ code: "custom", path: ["pool", "autonomous", "prefix"], message: `pool names would exceed 64 characters (${lastName})` });
    const dedicatedSeen = new Set<string>();
    c.pool.dedicated.forEach((d, i) => {
      if (dedicatedSeen.has(d.name)) ctx.addIssue({ code: "custom", path: ["pool", "dedicated", i, "name"], message: `duplicate dedicated session ${JSON.stringify(d.name)}` });
      dedicatedSeen.add(d.name);
      if (poolIndexOf(d.name, auto) !== undefined) {
        ctx.addIssue({ code: "custom", path: ["pool", "dedicated", i, "name"], message: `${JSON.stringify(d.name)} lies inside the pool range ${auto.prefix}[${auto.start_index}..${auto.start_index + auto.max - 1}]` });
      }
    });
  });

export type Config = z.output<typeof configSchema>;
export type AccountConfig = Config["accounts"][number];
export type AutonomousPoolConfig = Config["pool"]["autonomous"];

/** A project's worktree settings; a project given as a plain path (or a hand-built config) is `isolation: none`. */
export function projectSettingsOf(config: Pick<Config, "queue">, project: string): ProjectSettings {
  const all = (config.queue as { project_settings?: Record<string, ProjectSettings> }).project_settings;
  return (all && Object.hasOwn(all, project) ? all[project] : undefined) ?? { isolation: "none" };
}

/** The pool index n of `<prefix><n>` when the name lies in [start_index, start_index+max), else undefined. */
export function poolIndexOf(name: string, pool: { prefix: string; start_index: number; max: number }): number | undefined {
  if (!name.startsWith(pool.prefix)) return undefined;
  const rest = name.slice(pool.prefix.length);
  // "011" is not "11": only the canonical decimal form belongs to the pool.
  if (!/^(0|[1-9]\d*)$/.test(rest)) return undefined;
  const n = Number(rest);
  return n >= pool.start_index && n < pool.start_index + pool.max ? n : undefined;
}

/** The pool's session names, in order. */
export function poolSessionNames(pool: { prefix: string; start_index: number; max: number }): string[] {
  return Array.from({ length: pool.max }, (_, i) => `${pool.prefix}${pool.start_index + i}`);
}
