import type { Config } from "./schema.js";

/** An `accounts[].env_from` entry whose source variable is not set (or empty) in the daemon's environment. */
export interface UnsetEnvFrom {
  /** The key path, e.g. `accounts[1].env_from.CLAUDE_CODE_OAUTH_TOKEN`. */
  path: string;
  account: string;
  source: string;
}

/**
 * Every env_from naming a variable the environment does not hold: the agent would start without its
 * credentials and fail later, far from the cause. `doctor` reports these; `run` refuses to start on them.
 */
export function unsetEnvFrom(config: Config, env: NodeJS.ProcessEnv): UnsetEnvFrom[] {
  const out: UnsetEnvFrom[] = [];
  config.accounts.forEach((a, i) => {
    for (const [variable, source] of Object.entries(a.env_from)) {
      if (!env[source]) out.push({ path: `accounts[${i}].env_from.${variable}`, account: a.name, source });
    }
  });
  return out;
}

/** The one-line problem shown by `doctor` and `run`. */
export function formatUnsetEnvFrom(u: UnsetEnvFrom): string {
  return `${u.path}: names ${u.source}, which is not set in the daemon's environment (account ${u.account})`;
}
