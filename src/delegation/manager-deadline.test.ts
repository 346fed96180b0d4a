import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startMockJobService, type MockJobService } from "../../test/support/mock-job-service.js";
import { flushMicrotasks } from "../lib/test-clock.js";
import type { Job, JobService, SubmitAnswer, SubmitRequest } from "./client.js";
import { JobClient } from "./client.js";
import { OFFER_PAUSE_MS, SUBMIT_DEADLINE_MS } from "./manager.js";
import { withManagerFixture, TEST_KEY, type ManagerFixture } from "./test-manager.js";
import { readMarker } from "./marker.js";
import { TASKS } from "./test-support.js";
import { until } from "../../test/support/until.js";

let mock: MockJobService;
before(async () => {
  mock = await startMockJobService();
});
after(() => mock.close());
beforeEach(() => mock.reset());

const withFixture = (fn: (f: ManagerFixture) => Promise<void>): Promise<void> => withManagerFixture(mock, fn);

/** A service whose submits never answer (nor heed an abort) until `answering` is set. */
class SilentService implements JobService {
  readonly submits: { request: SubmitRequest; key: string | undefined }[] = [];
  answering = false;
  submit(request: SubmitRequest, _signal?: AbortSignal, key?: string): Promise<SubmitAnswer> {
    this.submits.push({ request, key });
    if (this.answering) return Promise.resolve({ id: `job-${this.submits.length}`, status: "queued" });
    return new Promise<SubmitAnswer>(() => undefined);
  }
  get(id: string): Promise<Job> {
    return Promise.resolve({ id, status: "queued" });
  }
}

/** Offers every id in turn, as one work-loop pass does; `done` turns true when the pass ends. */
function pass(f: ManagerFixture, offer: (p: string, id: string) => Promise<string>, ids: string[]) {
  const state = { done: false, answers: [] as string[] };
  const run = (async () => {
    for (const id of ids) state.answers.push(await offer("alpha", id));
    state.done = true;
  })();
  return { state, run };
}

describe("DelegationManager: a slow or unreachable job service", () => {
  test("a submit that never answers ends at the deadline; the next offers are refused for a while, then resume", () => withFixture(async (f) => {
    const service = new SilentService();
    // Untracked: without a bounded submit, stop() would wait for it and the failure would be a hang.
    const m = f.make({ client: service, untracked: true });
    await m.start();
    const ids = Array.from({ length: 10 }, (_, i) => `t${i}`);
    for (const id of ids) await f.put("alpha", id, TASKS.gpu);
    const p = pass(f, (project, id) => m.offer(project, id), ids);
    await until("the first submit", () => service.submits.length === 1 || undefined, 10_000, { everyMs: 5 });
    await f.clock.advance(SUBMIT_DEADLINE_MS - 1);
    assert.equal(p.state.done, false, "the first offer waits for its submit");
    await f.clock.advance(1);
    await until("the pass to end", () => p.state.done || undefined, 5_000, { everyMs: 5 });
    assert.deepEqual(p.state.answers, ids.map(() => "local"), "the pass ends; every task is left to the local claim");
    assert.equal(service.submits.length, 1, "after the timeout, no other task is offered");
    assert.deepEqual(await f.list("alpha", "inbox"), ids.map((id) => `${id}.md`).sort(), "the first task is back in the inbox");
    assert.equal(f.events.at(-1)?.type, "delegation_submit_failed");

    await f.clock.advance(OFFER_PAUSE_MS - SUBMIT_DEADLINE_MS);
    assert.equal(await m.offer("alpha", "t1"), "local", "still paused");
    assert.equal(service.submits.length, 1);
    await f.clock.advance(SUBMIT_DEADLINE_MS);
    service.answering = true;
    assert.equal(await m.offer("alpha", "t1"), "delegated", "offers resume after the pause");
    assert.equal(service.submits.length, 2);
    await m.stop();
  }));

  test("a Retry-After longer than the deadline is cut at the deadline, and stop() is not held past it", () => withFixture(async (f) => {
    mock.fault({ on: "submit", times: 4, fault: { kind: "status", status: 503, headers: { "retry-after": "60" } } });
    const m = f.make({ client: new JobClient({ url: mock.url, apiKey: TEST_KEY, clock: f.clock, random: () => 0.5 }), untracked: true });
    await m.start();
    await f.put("alpha", "t1", TASKS.gpu);
    const offered = m.offer("alpha", "t1");
    await mock.waitForRequest((r) => r.method === "POST");
    let stopped = false;
    const stopping = m.stop().then(() => void (stopped = true));
    // The client now sleeps 60 s (its Retry-After), on the manager's clock.
    await f.clock.advance(SUBMIT_DEADLINE_MS - 1);
    await flushMicrotasks();
    assert.equal(stopped, false);
    await f.clock.advance(1);
    let answer: string | undefined;
    void offered.then((a) => void (answer = a));
    assert.equal(await until("the offer to end", () => answer, 5_000, { everyMs: 5 }), "local");
    await stopping;
    assert.equal(mock.submits().length, 1, "the Retry-After wait was cut short: no second try");
    assert.deepEqual(await f.list("alpha", "inbox"), ["t1.md"]);
  }));
});

describe("DelegationManager: one Idempotency-Key per task", () => {
  test("a submit that timed out is offered again with the same key (in the marker too); a changed file gets a new one", () => withFixture(async (f) => {
    const service = new SilentService();
    const m = f.make({ client: service, untracked: true });
    await m.start();
    await f.put("alpha", "t1", TASKS.gpu);
    const first = m.offer("alpha", "t1");
    await until("the first submit", () => service.submits.length === 1 || undefined, 10_000, { everyMs: 5 });
    const key = service.submits[0]!.key;
    assert.ok(key !== undefined && key.length > 0, "the submit carries a key");
    const marker = readMarker(await f.read("alpha", "inbox", "t1.md.delegated"));
    assert.ok(marker.ok && marker.block.state === "submitting" && marker.block.idempotencyKey === key, "the write-ahead marker records it");
    await f.clock.advance(SUBMIT_DEADLINE_MS);
    let answer: string | undefined;
    void first.then((a) => void (answer = a));
    assert.equal(await until("the first offer to end", () => answer, 5_000, { everyMs: 5 }), "local");

    await f.clock.advance(OFFER_PAUSE_MS);
    const second = m.offer("alpha", "t1");
    await until("the second submit", () => service.submits.length === 2 || undefined, 10_000, { everyMs: 5 });
    assert.equal(service.submits[1]!.key, key, "the re-offer repeats the key: a job the first submit made is answered, not doubled");
    await f.clock.advance(SUBMIT_DEADLINE_MS);
    await second;

    await f.put("alpha", "t1", TASKS.gemini);
    await f.clock.advance(OFFER_PAUSE_MS);
    service.answering = true;
    assert.equal(await m.offer("alpha", "t1"), "delegated");
    assert.notEqual(service.submits[2]!.key, key, "another task text is another submission");
    await m.stop();
  }));
});
