import type { Config } from "../config/schema.js";
import { Daemon, StartupError } from "../daemon/daemon.js";
import { createLogger } from "../lib/logger.js";
import { describeError } from "../lib/errors.js";
import { EXIT_FAILURE, EXIT_OK, type CliIo } from "./io.js";

/** `claude-failover run`: starts the daemon and waits for SIGTERM/SIGINT; tmux sessions survive the stop. */
export async function runDaemonCommand(config: Config, io: CliIo): Promise<number> {
  const log = createLogger();
  const daemon = new Daemon({ config, log, env: io.env });
  try {
    await daemon.start();
  } catch (err) {
    io.stderr.write(`${err instanceof StartupError ? err.message : `claude-failover cannot start: ${describeError(err)}`}\n`);
    log.flush();
    return EXIT_FAILURE;
  }
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      log.info({ signal }, "signal received");
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
      resolve();
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
  await daemon.stop();
  log.info("stopped");
  log.flush();
  return EXIT_OK;
}
