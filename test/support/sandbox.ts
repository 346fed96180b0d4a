import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { stringify } from "yaml";

export interface Sandbox {
  dir: string;
  home: string;
  configPath: string;
  /** Writes the config (merged over the sandbox defaults) and returns its path. */
  writeConfig(overrides?: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

/**
 * A temporary folder laid out like an operator's machine: a home with two account homes, a queue
 * root and a state dir. Nothing outside it is touched.
 */
export async function makeSandbox(options: { socket?: string; accounts?: string[] } = {}): Promise<Sandbox> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "cf-sandbox-"));
  const home = path.join(dir, "home");
  const accounts = options.accounts ?? ["main", "backup"];
  for (const a of accounts) await mkdir(path.join(home, `.claude-${a}`), { recursive: true });
  const configPath = path.join(dir, "config.yaml");
  const base = (): Record<string, unknown> => ({
    state_dir: path.join(dir, "state"),
    http: { listen: "127.0.0.1:0" },
    tmux: { socket: options.socket ?? "", width: 160, height: 40 },
    claude: { link: path.join(home, ".claude"), shared_root: home },
    accounts: accounts.map((a) => ({ name: a, home: path.join(home, `.claude-${a}`) })),
    pool: { autonomous: { prefix: "cf-pool-", start_index: 1, min: 2, max: 4, cwd: dir } },
    queue: { root: path.join(dir, "queue") },
  });
  return {
    dir, home, configPath,
    async writeConfig(overrides = {}) {
      await writeFile(configPath, stringify({ ...base(), ...overrides }));
      return configPath;
    },
    close: () => rm(dir, { recursive: true, force: true }),
  };
}
