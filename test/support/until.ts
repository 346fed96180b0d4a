import assert from "node:assert/strict";

/**
 * Polls `probe` until it returns something other than undefined, failing the test with `what` after
 * `ms`: the way an end-to-end test waits for a condition (never a bare sleep).
 */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, ms: number, everyMs = 250): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
