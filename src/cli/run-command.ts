import type { Config } from "../config/schema.js";
import { Daemon, StartupError } from "../daemon/daemon.js";
import { SdNotifier, systemdNotifySend } from "../daemon/sd-notify.js";
import { systemClock } from "../lib/clock.js";
import { createLogger } from "../lib/logger.js";
import { describeError } from "../lib/errors.js";
import { EXIT_FAILURE, EXIT_OK, type CliIo } from "./io.js";

/** Signals that mean an orderly stop. SIGHUP too: there is no reload, and Node's default would kill us mid-write. */
export const STOP_SIGNALS: readonly NodeJS.Signals[] = ["SIGTERM", "SIGINT", "SIGHUP"];

export interface RunOptions {
  /** `run --reset-state`: a corrupt state.json is moved aside and the daemon starts from defaults. */
  resetCorruptState?: boolean;
}

/** `claude-failover run`: starts the daemon and waits for SIGTERM/SIGINT/SIGHUP; tmux sessions survive the stop. */
export async function runDaemonCommand(config: Config, io: CliIo, options: RunOptions = {}): Promise<number> {
  const log = createLogger();
  // Handlers before start: a signal during start-up stops the daemon once it is up, never kills it half-started.
  let onStop: () => void = () => undefined;
  let stopRequested = false;
  const stopped = new Promise<void>((resolve) => {
    onStop = resolve;
  });
  const onSignal = (signal: NodeJS.Signals): void => {
    log.info({ signal }, signal === "SIGHUP" ? "SIGHUP received: stopping (there is no reload; start again to re-read the config)" : "signal received");
    stopRequested = true;
    onStop();
  };
  for (const s of STOP_SIGNALS) process.on(s, onSignal);
  try {
    const daemon = new Daemon({ config, log, env: io.env, ...(options.resetCorruptState ? { resetCorruptState: true } : {}) });
    const notifier = new SdNotifier({ env: io.env, pid: process.pid, send: systemdNotifySend(io.env), clock: systemClock, log, alive: () => daemon.liveness() });
    try {
      await daemon.start();
    } catch (err) {
      io.stderr.write(`${err instanceof StartupError ? err.message : `claude-failover cannot start: ${describeError(err)}`}\n`);
      log.flush();
      return EXIT_FAILURE;
    }
    if (!stopRequested) await notifier.ready(`running; API at ${daemon.url ?? "?"}`);
    await stopped;
    await notifier.stopping();
    await daemon.stop();
    log.info("stopped");
    log.flush();
    return EXIT_OK;
  } finally {
    for (const s of STOP_SIGNALS) process.off(s, onSignal);
  }
}
