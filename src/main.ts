#!/usr/bin/env node
import { runCli } from "./cli/cli.js";

// Exit codes: 0 ok, 1 failure, 2 bad usage or configuration.
process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env });
