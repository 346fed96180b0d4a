import assert from "node:assert/strict";
import { mkdir, symlink } from "node:fs/promises";
import path from "node:path";
import { Writable } from "node:stream";
import { describe, test } from "node:test";
import type { AccountConfig } from "../config/schema.js";
import { createLogger } from "../lib/logger.js";
import { tempDir } from "../lib/test-temp.js";
import { accountOrFirst, activeAccountAtStart } from "./account-lookup.js";

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

describe("activeAccountAtStart", () => {
  async function world(): Promise<{ link: string; homes: AccountConfig[] }> {
    const dir = await tempDir("cf-active-");
    const homes = ["main", "spare"].map((name) => ({ name, home: path.join(dir, `.claude-${name}`), env: {}, env_from: {} })) as unknown as AccountConfig[];
    for (const a of homes) await mkdir(a.home);
    return { link: path.join(dir, ".claude"), homes };
  }

  test("the recorded account, else the link's, is used without a word in the log", async () => {
    const { link, homes } = await world();
    const { log, lines } = capturingLog();
    assert.equal(await activeAccountAtStart(homes, "spare", link, log), "spare");
    await symlink(homes[1]!.home, link);
    assert.equal(await activeAccountAtStart(homes, null, link, log), "spare");
    assert.equal(await activeAccountAtStart(homes, "gone", link, log), "spare");
    assert.deepEqual(lines(), []);
  });

  test("without a link, the first account is used and the log says so", async () => {
    const { link, homes } = await world();
    const { log, lines } = capturingLog();
    assert.equal(await activeAccountAtStart(homes, null, link, log), "main");
    assert.deepEqual(lines().map((l) => [l.level, l.using, l.link, l.recorded]), [["info", "main", link, undefined]]);
    assert.match(String(lines()[0]!.msg), /no claude link/);
  });

  test("a link to no configured home: the first account, and the log names the target and a recorded account it did not know", async () => {
    const { link, homes } = await world();
    const elsewhere = path.join(path.dirname(link), "elsewhere");
    await symlink(elsewhere, link);
    const { log, lines } = capturingLog();
    assert.equal(await activeAccountAtStart(homes, "gone", link, log), "main");
    assert.deepEqual(lines().map((l) => [l.level, l.using, l.target, l.recorded]), [["info", "main", elsewhere, "gone"]]);
    assert.match(String(lines()[0]!.msg), /points at no configured account/);
  });
});
