import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { freeId } from "./finish.js";
import { isValidTaskId, MAX_ID_LENGTH } from "./names.js";

const NOW = Date.UTC(2026, 3, 17, 2, 17, 19);

test("freeId: a suffixed id stays a valid id, however long its base, and never takes a taken one", async () => {
  const idChar = fc.constantFrom(..."abcXYZ019._-");
  // Lengths drawn evenly up to the limit (fast-check's default sizes stay short, far from it).
  const validId = fc.tuple(fc.constantFrom(..."aZ0_-"), fc.integer({ min: 0, max: MAX_ID_LENGTH - 1 }), fc.array(idChar, { minLength: MAX_ID_LENGTH, maxLength: MAX_ID_LENGTH }))
    .map(([first, n, rest]) => first + rest.slice(0, n).join(""));
  await fc.assert(fc.asyncProperty(validId, fc.integer({ min: 1, max: 4 }), async (base, collisions) => {
    const taken = new Set<string>([base]);
    const given: string[] = [];
    for (let i = 0; i < collisions; i++) {
      const id = await freeId(base, NOW, async (c) => taken.has(c));
      assert.ok(isValidTaskId(id), `${id.length} characters: ${id}`);
      assert.ok(!taken.has(id));
      assert.ok(id.startsWith(base.slice(0, MAX_ID_LENGTH - 30)), "keeps as much of the base as fits");
      taken.add(id);
      given.push(id);
    }
    assert.equal(new Set(given).size, given.length);
  }), { numRuns: 300 });
});

test("freeId: the cases at the limit", async () => {
  const cases: { base: number; taken: number; length: number; tail: string }[] = [
    { base: 10, taken: 1, length: 10 + 17, tail: "-20260417T021719Z" },
    { base: 183, taken: 1, length: 200, tail: "-20260417T021719Z" },
    { base: 184, taken: 1, length: 200, tail: "-20260417T021719Z" },
    { base: 200, taken: 1, length: 200, tail: "-20260417T021719Z" },
    { base: 200, taken: 2, length: 200, tail: "-20260417T021719Z-2" },
  ];
  for (const c of cases) {
    const base = "t".repeat(c.base);
    const taken = new Set([base, `${base.slice(0, 183)}-20260417T021719Z`]);
    const id = await freeId(base, NOW, async (x) => [...taken].slice(0, c.taken).includes(x));
    assert.equal(id.length, c.length, `base of ${c.base}`);
    assert.ok(id.endsWith(c.tail) && isValidTaskId(id));
  }
});
