import assert from "node:assert/strict";

/**
 * Polls `probe` until it returns something other than undefined, failing the test with `what` after
 * `ms`: the way an end-to-end test waits for a condition (never a bare sleep). `explain`, when given,
 * is asked at the timeout for what the test can see (screens, logs), so that a failure in CI carries
 * its own evidence.
 */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, ms: number, options: { everyMs?: number; explain?: () => Promise<string> } = {}): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) {
      const evidence = options.explain ? await options.explain().catch((err: unknown) => `(explain failed: ${String(err)})`) : "";
      assert.fail(`timed out after ${ms} ms waiting for ${what}${evidence ? `\n${evidence}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, options.everyMs ?? 250));
  }
}
