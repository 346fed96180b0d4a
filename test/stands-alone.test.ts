import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Source files of the folders whose code runs: a clone has nothing beside it, so none may reach out of the repository. */
function sources(dir: string): string[] {
  return readdirSync(path.join(root, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && /\.(ts|mjs|js)$/.test(e.name))
    .map((e) => path.join(e.parentPath, e.name));
}

test("nothing under src/, test/ or scripts/ reads the reference folder beside the checkout", () => {
  // Built from parts so that this file does not match itself.
  const reference = new RegExp(String.raw`(\.\./)+` + "shared/(fixtures|seed|hooks|SPEC|CLAUDE-CODE|STYLE)");
  const offenders = ["src", "test", "scripts"].flatMap(sources).filter((f) => reference.test(readFileSync(f, "utf8")));
  assert.deepEqual(offenders.map((f) => path.relative(root, f)), []);
});
