import { afterEach, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "../lib/atomic-fs.js";
import { FakeClock, flushMicrotasks } from "../lib/test-clock.js";
import { IllegalStateError } from "../lib/errors.js";
import { StateError, StateStore, type StateStoreOptions } from "./store.js";

const schema = z.object({
  active: z.string().nullable(),
  counter: z.number().int().nonnegative(),
  sessions: z.array(z.string()),
});
type S = z.infer<typeof schema>;
const defaults = (): S => ({ active: null, counter: 0, sessions: [] });

let dir: string;
let clock: FakeClock;

beforeEach(async () => {
  dir = path.join(await mkdtemp(path.join(os.tmpdir(), "cf-state-")), "state");
  clock = new FakeClock(Date.UTC(2026, 3, 17, 2, 17, 19));
});
afterEach(async () => {
  await rm(path.dirname(dir), { recursive: true, force: true });
});

function makeStore(extra: Partial<StateStoreOptions<S>> = {}): StateStore<S> {
  return new StateStore<S>({ dir, schema, version: 2, defaults, clock, ...extra });
}

const stateFile = (): string => path.join(dir, "state.json");

async function writeRaw(text: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(stateFile(), text);
}

function isStateError(code: string): (e: unknown) => boolean {
  return (e) => e instanceof StateError && e.code === code;
}

/** A write seam that counts calls, tracks overlap, and can be held open or made to fail. */
function recordingWriter() {
  const rec = {
    calls: 0,
    inFlight: 0,
    maxInFlight: 0,
    failNext: 0,
    gate: undefined as Promise<void> | undefined,
    write: async (file: string, data: string, mode: number): Promise<void> => {
      rec.calls++;
      rec.inFlight++;
      rec.maxInFlight = Math.max(rec.maxInFlight, rec.inFlight);
      try {
        if (rec.gate) await rec.gate;
        if (rec.failNext > 0) {
          rec.failNext--;
          throw Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
        }
        await writeFileAtomic(file, data, mode);
      } finally {
        rec.inFlight--;
      }
    },
  };
  return rec;
}

void describe("StateStore", () => {
  void test("starts from defaults without a file, and survives a restart", async () => {
    const a = makeStore();
    const first = await a.load();
    assert.equal(first.source, "defaults");
    assert.deepEqual(first.state, defaults());
    a.update((s) => {
      s.active = "main";
      s.sessions.push("ccl-auto-11");
    });
    await a.close();

    const b = makeStore();
    const again = await b.load();
    assert.equal(again.source, "file");
    assert.deepEqual(again.state, { active: "main", counter: 0, sessions: ["ccl-auto-11"] });
    const onDisk = JSON.parse(await readFile(stateFile(), "utf8")) as { version: number; saved_at: string };
    assert.equal(onDisk.version, 2);
    assert.equal(onDisk.saved_at, "2026-04-17T02:17:19.000Z");
  });

  void test("creates the folder 0700 and the file 0600", async () => {
    const s = makeStore();
    await s.load();
    s.update((x) => ({ ...x, counter: 1 }));
    await s.flush();
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    assert.equal((await stat(stateFile())).mode & 0o777, 0o600);
  });

  const corruptCases: { name: string; text: string; found: RegExp }[] = [
    { name: "not JSON", text: '{"version": 2, "data": {"act', found: /not JSON/ },
    { name: "empty file", text: "", found: /not JSON/ },
    { name: "no envelope", text: '{"active": null}', found: /envelope/ },
    { name: "version not a number", text: '{"version": "2", "data": {}}', found: /not an integer/ },
    { name: "data off-schema", text: '{"version": 2, "data": {"active": 3, "counter": -1, "sessions": []}}', found: /active: .*counter: / },
  ];
  for (const c of corruptCases) {
    void test(`corrupt (${c.name}): StateError, the file stays and a copy is kept aside`, async () => {
      await writeRaw(c.text);
      await assert.rejects(makeStore().load(), (e: unknown) => {
        assert.ok(e instanceof StateError && e.code === "STATE_CORRUPT");
        assert.match(e.message, c.found);
        assert.match(e.message, /state\.json\.corrupt-2026-04-17T02-17-19\.000Z/);
        return true;
      });
      assert.equal(await readFile(stateFile(), "utf8"), c.text);
      const copy = path.join(dir, "state.json.corrupt-2026-04-17T02-17-19.000Z");
      assert.equal(await readFile(copy, "utf8"), c.text);
      assert.equal((await stat(copy)).mode & 0o777, 0o600);
    });
  }

  void test("a restart loop on the same corrupt file keeps one copy, not one per start", async () => {
    await writeRaw("garbage");
    for (let i = 0; i < 3; i++) {
      await assert.rejects(makeStore().load(), isStateError("STATE_CORRUPT"));
      await clock.advance(1000);
    }
    assert.equal((await readdir(dir)).filter((n) => n.includes(".corrupt-")).length, 1);
  });

  void test("opt-in reset: the corrupt file is moved aside and the store starts from defaults", async () => {
    await writeRaw("garbage");
    const s = makeStore({ resetCorrupt: true });
    const r = await s.load();
    assert.equal(r.source, "reset-corrupt");
    assert.deepEqual(r.state, defaults());
    assert.equal(await readFile(r.corruptCopy ?? "", "utf8"), "garbage");
    s.update((x) => ({ ...x, counter: 5 }));
    await s.flush();
    assert.equal((await makeStore().load()).state.counter, 5);
    assert.equal(await readFile(r.corruptCopy ?? "", "utf8"), "garbage", "the copy survives the first write");
  });

  void test("a newer version is refused and left untouched, even with reset opted in", async () => {
    const text = JSON.stringify({ version: 3, data: { whatever: true } });
    await writeRaw(text);
    await assert.rejects(makeStore({ resetCorrupt: true }).load(), isStateError("STATE_VERSION_UNSUPPORTED"));
    assert.equal(await readFile(stateFile(), "utf8"), text);
    assert.deepEqual(await readdir(dir), ["state.json"]);
  });

  void test("an older version goes through migrate", async () => {
    await writeRaw(JSON.stringify({ version: 1, data: { active: "main" } }));
    const s = makeStore({ migrate: (data, from) => ({ ...(data as object), counter: from, sessions: [] }) });
    const r = await s.load();
    assert.equal(r.migratedFrom, 1);
    assert.deepEqual(r.state, { active: "main", counter: 1, sessions: [] });
  });

  void test("a half-written temp file left by a dead writer is ignored and removed; a live writer's is left", async () => {
    await writeRaw(JSON.stringify({ version: 2, data: { active: "main", counter: 7, sessions: [] } }));
    // 4194305 is above Linux's highest possible pid: that writer is certainly dead.
    const dead = path.join(dir, ".state.json.4194305.deadbeef.tmp");
    const live = path.join(dir, `.state.json.${process.ppid}.cafebabe.tmp`);
    await writeFile(dead, '{"version": 2, "data": {"act');
    await writeFile(live, "{");
    const r = await makeStore().load();
    assert.equal(r.state.counter, 7);
    assert.deepEqual(r.removedTempFiles, [dead]);
    assert.deepEqual((await readdir(dir)).sort(), [path.basename(live), "state.json"].sort());
  });

  void test("a synchronous burst of updates is one write, of the last state", async () => {
    const w = recordingWriter();
    const s = makeStore({ writeFile: w.write });
    await s.load();
    for (let i = 1; i <= 100; i++) s.update((x) => ({ ...x, counter: i }));
    await s.flush();
    assert.equal(w.calls, 1);
    assert.equal((await makeStore().load()).state.counter, 100);
  });

  void test("updates during a slow write coalesce into one more write; writes never overlap", async () => {
    const w = recordingWriter();
    let open!: () => void;
    w.gate = new Promise<void>((r) => (open = r));
    const s = makeStore({ writeFile: w.write });
    await s.load();
    s.update((x) => ({ ...x, counter: 1 }));
    await flushMicrotasks();
    assert.equal(w.inFlight, 1, "the first write is held open");
    for (let i = 2; i <= 50; i++) {
      s.update((x) => ({ ...x, counter: i }));
      await flushMicrotasks(1);
    }
    const flushed = s.flush();
    w.gate = undefined;
    open();
    await flushed;
    assert.equal(w.calls, 2);
    assert.equal(w.maxInFlight, 1);
    assert.equal((await makeStore().load()).state.counter, 50);
  });

  void test("a failed background write is reported, and flush retries it", async () => {
    const w = recordingWriter();
    w.failNext = 1;
    const reported: StateError[] = [];
    const s = makeStore({ writeFile: w.write, onWriteError: (e) => reported.push(e) });
    await s.load();
    s.update((x) => ({ ...x, counter: 3 }));
    await s.flush();
    assert.deepEqual(reported.map((e) => e.code), ["STATE_WRITE_FAILED"]);
    assert.equal((await makeStore().load()).state.counter, 3);
  });

  void test("flush rejects when the disk keeps failing, and the state stays in memory", async () => {
    const w = recordingWriter();
    w.failNext = 10;
    const s = makeStore({ writeFile: w.write });
    await s.load();
    s.update((x) => ({ ...x, counter: 4 }));
    await assert.rejects(s.flush(), (e: unknown) => isStateError("STATE_WRITE_FAILED")(e) && /ENOSPC/.test((e as Error).message));
    assert.equal(s.get().counter, 4);
    w.failNext = 0;
    await s.flush();
    assert.equal((await makeStore().load()).state.counter, 4);
  });

  void test("an update that does not fit the schema is refused and changes nothing", async () => {
    const w = recordingWriter();
    const s = makeStore({ writeFile: w.write });
    await s.load();
    s.update((x) => ({ ...x, counter: 1 }));
    assert.throws(() => s.update((x) => ({ ...x, counter: -5 })), isStateError("STATE_INVALID"));
    assert.throws(() =>
      s.update((x) => {
        x.counter = 99;
        throw new Error("caller bug");
      }),
    );
    assert.equal(s.get().counter, 1);
    await s.flush();
    assert.equal(w.calls, 1);
  });

  void test("lifecycle: get before load, load twice and update after close are refused; close is idempotent", async () => {
    const s = makeStore();
    assert.throws(() => s.get(), IllegalStateError);
    await s.load();
    await assert.rejects(s.load(), IllegalStateError);
    const c1 = s.close();
    assert.equal(s.close(), c1);
    await c1;
    assert.throws(() => s.update((x) => x), IllegalStateError);
  });
});
