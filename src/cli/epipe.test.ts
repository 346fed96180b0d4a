import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** A writer of a long output whose reader leaves after the first chunk (`… | head -1`). */
async function runWithClosedPipe(handle: boolean): Promise<{ code: number | null; err: string }> {
  const epipe = fileURLToPath(new URL("./epipe.ts", import.meta.url));
  const script = `${handle ? `(await import(${JSON.stringify(epipe)})).exitQuietlyOnEpipe();` : ""}
    const line = "x".repeat(1000) + "\\n";
    for (let i = 0; i < 20000; i++) { if (!process.stdout.write(line)) await new Promise((r) => process.stdout.once("drain", r)); }`;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr.on("data", (b: Buffer) => (err += b.toString()));
  child.stdout.once("data", () => child.stdout.destroy());
  const code = await new Promise<number | null>((r) => child.on("close", r));
  return { code, err };
}

test("a closed pipe ends the CLI quietly (exit 0), where it would otherwise crash on EPIPE", async () => {
  const without = await runWithClosedPipe(false);
  assert.notEqual(without.code, 0, "the unhandled EPIPE crashes a writer without the handler");
  const withHandler = await runWithClosedPipe(true);
  assert.equal(withHandler.code, 0);
  assert.doesNotMatch(withHandler.err, /EPIPE|Unhandled/);
});
