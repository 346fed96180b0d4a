#!/usr/bin/env node
// ccl-delegate: the delegation contract for shell scripts (SPEC §8). Not built yet: it prints its usage.
const usage = `usage: ccl-delegate <command> [args]

  submit TASK.md              submit a task to the remote job service; prints the job id
  get ID                      print the job as JSON
  result ID [--timeout D]     wait for the job; print its result (exit 1 if it failed)
  decide TASK.md              print "local" or the provider the task routes to

Environment: CCL_SECUTOOLS_API_KEY (or SECUTOOLS_API_KEY), CCL_SECUTOOLS_URL (or CCL_SECUTOOLS_MOCK_URL).

Not built yet: delegation arrives in a later release; every command exits 2.
`;
const args = process.argv.slice(2);
if (args.length === 0 || args[0] === "--help" || args[0] === "-h") {
  process.stdout.write(usage);
  process.exitCode = args.length === 0 ? 2 : 0;
} else {
  process.stderr.write(`ccl-delegate ${args[0] ?? ""}: not built yet\n\n${usage}`);
  process.exitCode = 2;
}
