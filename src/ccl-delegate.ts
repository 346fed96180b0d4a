#!/usr/bin/env node
// ccl-delegate: the delegation contract for shell scripts (contract §8); exit 0 ok, 1 failure, 2 usage.
import { exitQuietlyOnEpipe } from "./cli/epipe.js";
import { runCclDelegate } from "./delegation/cli.js";

exitQuietlyOnEpipe();
process.exitCode = await runCclDelegate(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env });
