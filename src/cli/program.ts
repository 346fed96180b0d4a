import { CommanderError, type Command } from "commander";
import { describeError } from "../lib/errors.js";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type CliIo } from "./io.js";

/** How an action ends with an exit code and, when set, a message on stderr. */
export class Exit extends Error {
  constructor(readonly code: number, message = "") {
    super(message);
  }
}

/**
 * Runs a commander program built with `exitOverride()` and returns the exit code: an `Exit`'s code and message,
 * 0 for --help and --version, 2 for what commander refused (it has said why), 1 with the error for anything else.
 */
export async function runProgram(program: Command, argv: readonly string[], io: CliIo, o: { name: string; nameOnExits: boolean }): Promise<number> {
  try {
    await program.parseAsync([...argv], { from: "user" });
    return EXIT_OK;
  } catch (err) {
    if (err instanceof Exit) {
      if (err.message) io.stderr.write(`${o.nameOnExits ? `${o.name}: ` : ""}${err.message.endsWith("\n") ? err.message : `${err.message}\n`}`);
      return err.code;
    }
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    io.stderr.write(`${o.name}: ${describeError(err)}\n`);
    return EXIT_FAILURE;
  }
}
