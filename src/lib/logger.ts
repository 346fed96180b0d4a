import { pino, type Logger as PinoLogger, type DestinationStream } from "pino";

export type Logger = PinoLogger;

/** Keys whose values never reach a log line, at any depth pino can address. */
const REDACT = [
  "token", "*.token", "apiKey", "*.apiKey", "authorization", "*.authorization",
  "headers.authorization", "*.headers.authorization", "env", "*.env", "secret", "*.secret",
];

/** JSON lines on stdout (journald), one child logger per component. */
export function createLogger(options: { level?: string; destination?: DestinationStream } = {}): Logger {
  return pino(
    {
      level: options.level ?? process.env.CLAUDE_FAILOVER_LOG_LEVEL ?? "info",
      base: { pid: process.pid },
      redact: { paths: REDACT, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination,
  );
}

/** A logger that drops everything: for tests that do not assert on logs. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
