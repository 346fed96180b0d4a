import { test } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { PassThrough, Readable } from "node:stream";
import { runHookEntry } from "./hook-entry.js";
import { tempDir } from "../lib/test-temp.js";

test("hook: a dead daemon means the payload is spooled, nothing on stdout, exit 0", async () => {
  const stateDir = await tempDir("cf-hook-");
  const stdout = new PassThrough();
  let out = "";
  stdout.on("data", (b: Buffer) => (out += b.toString()));
  const code = await runHookEntry(["--url", "http://127.0.0.1:9", "--state-dir", stateDir, "Stop"], {
    stdout, stderr: new PassThrough(), env: {},
    stdin: Readable.from([JSON.stringify({ session_id: "0b9c3f4e-5d6a-4b7c-8d9e-0f1a2b3c4d5e", hook_event_name: "Stop", last_assistant_message: "hi" })]),
  });
  assert.equal(code, 0);
  assert.equal(out, "");
  assert.equal((await readdir(path.join(stateDir, "hook-spool"))).filter((f) => f.endsWith(".json")).length, 1);
});

test("hook: garbage on stdin still exits 0", async () => {
  const stateDir = await tempDir("cf-hook-");
  const code = await runHookEntry(["Stop", "--state-dir", stateDir, "--url", "http://127.0.0.1:9"], {
    stdout: new PassThrough(), stderr: new PassThrough(), env: {}, stdin: Readable.from([Buffer.from([0xff, 0x00, 0x7b])]),
  });
  assert.equal(code, 0);
});

test("`claude-failover hook EVENT` spawned as Claude Code runs it prints nothing, on stdout or stderr, whatever happens; exit 0", async () => {
  const { spawn } = await import("node:child_process");
  const { writeFile } = await import("node:fs/promises");
  const { createServer } = await import("node:http");
  const { fileURLToPath } = await import("node:url");
  const main = fileURLToPath(new URL("../main.ts", import.meta.url));
  const stateDir = await tempDir("cf-hook-");
  const notADir = path.join(stateDir, "a-file");
  await writeFile(notADir, "");
  // A daemon that refuses every delivery.
  const refusing = createServer((_req, res) => void res.writeHead(400, { "content-type": "application/json" }).end('{"ok":false,"error":"no"}'));
  await new Promise<void>((r) => refusing.listen(0, "127.0.0.1", r));
  const refusingUrl = `http://127.0.0.1:${(refusing.address() as import("node:net").AddressInfo).port}`;
  const payload = JSON.stringify({ session_id: "0b9c3f4e-5d6a-4b7c-8d9e-0f1a2b3c4d5e", hook_event_name: "Stop", last_assistant_message: "hi" });
  const run = (args: string[], stdin: string | Buffer) =>
    new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const child = spawn(process.execPath, ["--import", "tsx", main, "hook", ...args], { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, NODE_NO_WARNINGS: "" } });
      let out = "";
      let err = "";
      child.stdout.on("data", (b: Buffer) => (out += b.toString()));
      child.stderr.on("data", (b: Buffer) => (err += b.toString()));
      child.on("close", (code) => resolve({ code, out, err }));
      child.stdin.end(stdin);
    });
  try {
    const runs = await Promise.all([
      run(["--url", "http://127.0.0.1:9", "--state-dir", stateDir, "Stop"], payload),
      run(["--url", refusingUrl, "--state-dir", stateDir, "Stop"], payload),
      run(["--url", "http://127.0.0.1:9", "--state-dir", notADir, "Stop"], payload),
      run(["--url", "http://127.0.0.1:9", "--state-dir", stateDir, "Stop"], Buffer.from([0xff, 0x00, 0x7b])),
    ]);
    for (const [i, r] of runs.entries()) assert.deepEqual(r, { code: 0, out: "", err: "" }, `run ${i}`);
  } finally {
    await new Promise<void>((r) => refusing.close(() => r()));
  }
});

test("hook: the lean path loads nothing from daemon/ or config/, and no zod", async () => {
  const seen = new Set<string>();
  const outside: string[] = [];
  const visit = async (file: string): Promise<void> => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = await readFile(file, "utf8");
    // Static imports only (type-only ones load nothing); the entry's dynamic imports would show here too.
    for (const m of text.matchAll(/^import\s+(?!type\b)[^;]*?from\s+"([^"]+)";/gms)) {
      const spec = m[1]!;
      if (!spec.startsWith(".")) {
        if (spec === "zod") outside.push(`${path.basename(file)} imports zod`);
        continue;
      }
      const target = path.resolve(path.dirname(file), spec.replace(/\.js$/, ".ts"));
      const rel = path.relative(path.resolve(path.dirname(fileURLToPath(import.meta.url)), ".."), target);
      if (rel.startsWith("daemon/") || rel.startsWith("config/")) outside.push(`${path.basename(file)} imports ${rel}`);
      await visit(target);
    }
  };
  await visit(fileURLToPath(new URL("./hook-entry.ts", import.meta.url)));
  assert.ok(seen.size > 2, "the walk followed the imports");
  assert.deepEqual(outside, []);
});
