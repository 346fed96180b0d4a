import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { errnoOf, isNotFound, orIfMissing } from "./errors.js";

describe("errno helpers", () => {
  const enoent = Object.assign(new Error("no such file"), { code: "ENOENT" });
  const eacces = Object.assign(new Error("permission denied"), { code: "EACCES" });

  test("errnoOf reads a string code from anything thrown", () => {
    assert.equal(errnoOf(eacces), "EACCES");
    assert.equal(errnoOf({ code: 42 }), undefined);
    assert.equal(errnoOf(null), undefined);
    assert.equal(errnoOf(undefined), undefined);
    assert.equal(errnoOf("ENOENT"), undefined);
  });

  test("isNotFound is ENOENT only", () => {
    assert.equal(isNotFound(enoent), true);
    assert.equal(isNotFound(eacces), false);
    assert.equal(isNotFound(new Error("plain")), false);
  });

  test("orIfMissing: the value, the fallback for ENOENT, and every other error thrown", async () => {
    assert.equal(await orIfMissing(Promise.resolve(1), 0), 1);
    assert.deepEqual(await orIfMissing(Promise.reject(enoent), []), []);
    await assert.rejects(orIfMissing(Promise.reject(eacces), []), (e: unknown) => e === eacces);
  });
});
