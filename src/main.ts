#!/usr/bin/env node
import type { CliIo } from "./cli/io.js";
import { exitQuietlyOnEpipe } from "./cli/epipe.js";

exitQuietlyOnEpipe();

const io: CliIo = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env };
const argv = process.argv.slice(2);
// Exit codes: 0 ok, 1 failure, 2 bad usage or configuration. `hook` (run by Claude Code several times
// per task) takes a lean path that loads none of the daemon.
if (argv[0] === "hook" && !argv.includes("--help") && !argv.includes("-h")) {
  const { runHookEntry } = await import("./cli/hook-entry.js");
  process.exitCode = await runHookEntry(argv.slice(1), io);
} else {
  const { runCli } = await import("./cli/cli.js");
  process.exitCode = await runCli(argv, io);
}
