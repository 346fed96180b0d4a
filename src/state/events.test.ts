import { test } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { DAEMON_EVENT_TYPES } from "./events.js";

const root = new URL("../../", import.meta.url);

test("the event types of the union are the ones contract §7 lists", async () => {
  const contract = await readFile(new URL("docs/contract.md", root), "utf8");
  const paragraph = /^\*\*Events\*\*:[\s\S]*?(?=\n\n)/m.exec(contract)?.[0];
  assert.ok(paragraph, "contract.md has an **Events** paragraph");
  const documented = [...paragraph.matchAll(/`([a-z][a-z_]*)`/g)].map((m) => m[1]!).filter((w) => w !== "ts" && w !== "type");
  assert.deepEqual([...documented].sort(), [...DAEMON_EVENT_TYPES].sort());
});

test("every event type of the union is written somewhere in src/ (outside its declaration and tests)", async () => {
  const src = fileURLToPath(new URL("src/", root));
  const declaration = path.join("state", "events.ts");
  const files = (await readdir(src, { recursive: true }))
    .filter((f) => f.endsWith(".ts") && f !== declaration && !f.endsWith(".test.ts") && !path.basename(f).startsWith("test-"));
  const text = (await Promise.all(files.map((f) => readFile(path.join(src, f), "utf8")))).join("\n");
  const unwritten = DAEMON_EVENT_TYPES.filter((t) => !text.includes(`type: "${t}"`));
  assert.deepEqual(unwritten, []);
});
