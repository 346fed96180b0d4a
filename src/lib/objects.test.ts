import assert from "node:assert/strict";
import { test } from "node:test";
import { dropUndefined } from "./objects.js";

test("dropUndefined removes undefined fields only", () => {
  const out = dropUndefined({ a: 1, b: undefined, c: null, d: "", e: false });
  assert.deepEqual(out, { a: 1, c: null, d: "", e: false });
  assert.equal(Object.hasOwn(out, "b"), false);
});
