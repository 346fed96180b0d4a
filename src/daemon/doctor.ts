import { execFile } from "node:child_process";
import { access, constants, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { validateAllAccounts, formatLinkProblem } from "../accounts/shared-links.js";
import type { Config } from "../config/schema.js";
import { formatUnsetEnvFrom, unsetEnvFrom } from "../config/secrets.js";
import { describeError, errnoOf } from "../lib/errors.js";
import { execGit, type GitRunner } from "../git/git.js";
import { checkWorktrees } from "./doctor-worktrees.js";

export interface DoctorFinding {
  check: "config" | "tmux" | "claude" | "account-home" | "credentials" | "shared-links" | "state-dir" | "secrets" | "worktrees";
  ok: boolean;
  /** What was checked, or what is wrong. */
  message: string;
  /** The action that fixes it (problems only). */
  fix?: string;
}

export interface DoctorDeps {
  /** Runs a binary with arguments; resolves stdout, rejects on failure. */
  run(file: string, args: readonly string[]): Promise<string>;
  env: NodeJS.ProcessEnv;
  now: () => number;
  /** git for the worktree checks; default the real one with this env. */
  git?: GitRunner;
}

export const realDoctorDeps = (): DoctorDeps => ({
  run: (file, args) =>
    new Promise((resolve, reject) => {
      execFile(file, [...args], { timeout: 10_000, maxBuffer: 1024 * 1024 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`${err.message.split("\n")[0] ?? ""}${stderr.trim() ? `: ${stderr.trim().slice(0, 200)}` : ""}`, { cause: err }));
        else resolve(stdout);
      });
    }),
  env: process.env,
  now: () => Date.now(),
});

const MIN_TMUX = [3, 2] as const;

/** Parses `tmux 3.3a` / `tmux next-3.4` into [major, minor]. */
export function parseTmuxVersion(text: string): [number, number] | undefined {
  const m = /(\d+)\.(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

async function checkTmux(deps: DoctorDeps): Promise<DoctorFinding> {
  try {
    const out = (await deps.run("tmux", ["-V"])).trim();
    const v = parseTmuxVersion(out);
    if (!v) return { check: "tmux", ok: false, message: `cannot read the tmux version from ${JSON.stringify(out)}`, fix: "install tmux ≥ 3.2 (apt-get install tmux)" };
    if (v[0] < MIN_TMUX[0] || (v[0] === MIN_TMUX[0] && v[1] < MIN_TMUX[1])) {
      return { check: "tmux", ok: false, message: `${out} is older than 3.2 (new-session -e is needed)`, fix: "install tmux ≥ 3.2" };
    }
    return { check: "tmux", ok: true, message: out };
  } catch (err) {
    return { check: "tmux", ok: false, message: `tmux cannot be run: ${describeError(err)}`, fix: "install tmux ≥ 3.2 (apt-get install tmux) and make sure it is on PATH" };
  }
}

async function checkClaude(config: Config, deps: DoctorDeps): Promise<DoctorFinding> {
  try {
    const out = (await deps.run(config.claude.command, ["--version"])).trim().split("\n")[0] ?? "";
    return { check: "claude", ok: true, message: `${config.claude.command}: ${out}` };
  } catch (err) {
    return {
      check: "claude", ok: false,
      message: `${config.claude.command} --version failed: ${describeError(err)}`,
      fix: "install Claude Code (npm install -g @anthropic-ai/claude-code) or set claude.command to its absolute path",
    };
  }
}

/** Reads `<home>/.credentials.json` enough to say whether a login is there; never returns the token. */
export async function inspectCredentials(home: string, now: number): Promise<{ ok: boolean; message: string; fix?: string }> {
  const file = path.join(home, ".credentials.json");
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    const code = errnoOf(err);
    return {
      ok: false,
      message: code === "ENOENT" ? `${file}: no credentials` : `${file}: cannot read (${code ?? "error"})`,
      fix: `log in once with: CLAUDE_CONFIG_DIR=${home} claude, then /login (or give the account a CLAUDE_CODE_OAUTH_TOKEN through env_from)`,
    };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, message: `${file}: not valid JSON`, fix: `move it aside and log in again with CLAUDE_CONFIG_DIR=${home} claude` };
  }
  const oauth = (parsed as { claudeAiOauth?: { accessToken?: unknown; expiresAt?: unknown } } | null)?.claudeAiOauth;
  if (!oauth || typeof oauth.accessToken !== "string" || oauth.accessToken === "") {
    return { ok: false, message: `${file}: no claudeAiOauth.accessToken`, fix: `log in again with CLAUDE_CONFIG_DIR=${home} claude, then /login` };
  }
  if (typeof oauth.expiresAt === "number" && oauth.expiresAt < now) {
    // Claude Code refreshes an expired access token itself when a refresh token is there.
    return { ok: true, message: `${file}: access token expired ${new Date(oauth.expiresAt).toISOString()} (Claude Code refreshes it on next use)` };
  }
  return { ok: true, message: `${file}: login present` };
}

/** Every check of `claude-failover doctor`; each problem comes with its fix. */
export async function runDoctor(config: Config, deps: DoctorDeps): Promise<DoctorFinding[]> {
  const findings: DoctorFinding[] = [{ check: "config", ok: true, message: "configuration is valid" }];
  findings.push(await checkTmux(deps));
  findings.push(await checkClaude(config, deps));

  for (const a of config.accounts) {
    const envAuth = Object.keys(a.env_from).some((k) => k === "CLAUDE_CODE_OAUTH_TOKEN" || k === "ANTHROPIC_API_KEY") ||
      "CLAUDE_CODE_OAUTH_TOKEN" in a.env || "ANTHROPIC_API_KEY" in a.env;
    try {
      const st = await stat(a.home);
      if (!st.isDirectory()) {
        findings.push({ check: "account-home", ok: false, message: `account ${a.name}: ${a.home} is not a folder`, fix: `move it aside and create the folder: mkdir -p ${a.home}` });
        continue;
      }
      findings.push({ check: "account-home", ok: true, message: `account ${a.name}: ${a.home}` });
    } catch {
      findings.push({ check: "account-home", ok: false, message: `account ${a.name}: ${a.home} does not exist`, fix: `mkdir -p ${a.home} && CLAUDE_CONFIG_DIR=${a.home} claude  (then /login)` });
      continue;
    }
    if (envAuth) {
      findings.push({ check: "credentials", ok: true, message: `account ${a.name}: authenticates through its environment (env/env_from)` });
    } else {
      const c = await inspectCredentials(a.home, deps.now());
      findings.push({ check: "credentials", ok: c.ok, message: `account ${a.name}: ${c.message}`, ...(c.fix ? { fix: c.fix } : {}) });
    }
  }
  for (const u of unsetEnvFrom(config, deps.env)) {
    findings.push({ check: "secrets", ok: false, message: formatUnsetEnvFrom(u), fix: `set ${u.source} in the daemon's environment (systemd: EnvironmentFile=)` });
  }

  const problems = await validateAllAccounts(config.accounts, config.claude.shared_root);
  if (problems.length === 0) findings.push({ check: "shared-links", ok: true, message: `shared links of ${config.accounts.length} account(s) are correct` });
  for (const p of problems) {
    // A missing link is created at start-up; everything else refuses the start.
    const ok = p.kind === "missing" || p.kind === "target-missing";
    findings.push({ check: "shared-links", ok, message: ok ? `${formatLinkProblem(p).split(" — fix:")[0]} (run creates it)` : formatLinkProblem(p).split(" — fix:")[0]!, ...(ok ? {} : { fix: p.fix }) });
  }

  try {
    await access(config.state_dir, constants.W_OK);
    findings.push({ check: "state-dir", ok: true, message: `${config.state_dir} is writable` });
  } catch (err) {
    const code = errnoOf(err);
    if (code === "ENOENT") findings.push({ check: "state-dir", ok: true, message: `${config.state_dir} will be created at start` });
    else findings.push({ check: "state-dir", ok: false, message: `${config.state_dir} is not writable (${code ?? "error"})`, fix: `chown the folder to the daemon's user, or set state_dir` });
  }

  findings.push(...(await checkWorktrees(config, deps.git ?? execGit({ env: deps.env }))));

  if (config.http.token_env && !deps.env[config.http.token_env]) {
    findings.push({ check: "secrets", ok: false, message: `http.token_env names ${config.http.token_env}, which is not set`, fix: `set ${config.http.token_env}, or remove http.token_env` });
  }
  return findings;
}
