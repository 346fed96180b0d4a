import assert from "node:assert/strict";

/**
 * Polls `probe` until it returns something other than undefined, failing the test with `what` after
 * `ms`: the way a test waits for a condition on real I/O (never a bare sleep). A boolean condition is
 * written `() => cond() || undefined`. `explain`, when given, is asked at the timeout for what the test
 * can see (screens, logs), so that a failure in CI carries its own evidence.
 */
export async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  ms: number,
  options: { everyMs?: number; explain?: () => string | Promise<string> } = {},
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) {
      const evidence = options.explain ? await Promise.resolve().then(options.explain).catch((err: unknown) => `(explain failed: ${String(err)})`) : "";
      assert.fail(`timed out after ${ms} ms waiting for ${what}${evidence ? `\n${evidence}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, options.everyMs ?? 250));
  }
}
