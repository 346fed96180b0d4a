import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, test } from "node:test";
import type { AccountConfig } from "../config/schema.js";
import { createLogger } from "../lib/logger.js";
import { accountOrFirst } from "./account-lookup.js";

function capturingLog(): { log: ReturnType<typeof createLogger>; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const log = createLogger({ destination: new Writable({ write(chunk: Buffer, _enc, cb) { out.push(chunk.toString()); cb(); } }) });
  return { log, lines: () => out.join("").split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const accounts = [
  { name: "main", home: "/h/main", env: {}, env_from: {} },
  { name: "spare", home: "/h/spare", env: {}, env_from: {} },
] as unknown as AccountConfig[];

describe("accountOrFirst", () => {
  test("a known name or home is found without a word in the log", () => {
    const { log, lines } = capturingLog();
    assert.equal(accountOrFirst(accounts, { name: "spare" }, log, "test").name, "spare");
    assert.equal(accountOrFirst(accounts, { home: "/h/spare" }, log, "test").name, "spare");
    assert.deepEqual(lines(), []);
  });

  test("an unknown account falls back to the first, and the warning names both", () => {
    const { log, lines } = capturingLog();
    assert.equal(accountOrFirst(accounts, { name: "gone" }, log, "transcript").name, "main");
    assert.equal(accountOrFirst(accounts, { home: "/h/gone" }, log, "resume").name, "main");
    const warned = lines().filter((l) => l.level === "warn");
    assert.deepEqual(warned.map((l) => [l.unknown, l.using, l.purpose]), [["gone", "main", "transcript"], ["/h/gone", "main", "resume"]]);
  });
});
