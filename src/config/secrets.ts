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

/** The variables the delegation key is read from, in order (contract §8). */
export const DELEGATION_KEY_ENV = ["CCL_SECUTOOLS_API_KEY", "SECUTOOLS_API_KEY"] as const;

/**
 * Every environment variable the daemon reads a secret from: the API token, the notification
 * channels' keys, the delegation key and each account's env_from source. None of them may reach a
 * pane through tmux's environment: an agent gets only its own account's, through its launch env file.
 */
export function secretEnvNames(config: Config): string[] {
  const names = [
    ...(config.http.token_env ? [config.http.token_env] : []),
    config.notifications.telegram.bot_token_env,
    config.notifications.email.api_key_env,
    ...DELEGATION_KEY_ENV,
    ...config.accounts.flatMap((a) => Object.values(a.env_from)),
  ];
  return [...new Set(names)].sort();
}

/** `env` without the secret variables: what tmux, and so every pane, is given. */
export function withoutSecrets(env: NodeJS.ProcessEnv, secretNames: readonly string[]): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env };
  for (const name of secretNames) delete out[name];
  return out;
}
