import { test } from "node:test";
import assert from "node:assert/strict";
import { clipText } from "./clip.js";

test("clipText keeps short texts, cuts long ones to max with an ellipsis, never inside a surrogate pair", () => {
  assert.equal(clipText("abc", 3), "abc");
  assert.equal(clipText("abcd", 3), "ab…");
  assert.equal(clipText("a😀b", 3), "a…");
});
