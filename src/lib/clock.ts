/** Time, behind an interface so logic never calls Date.now() or setTimeout directly. */
export interface Clock {
  now(): number;
  /** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Node fires a setTimeout longer than this at once (with a warning): longer waits are chained. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The timer functions a real sleep uses; tests pass fakes to see the delays asked for. */
export interface TimerApi {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const nodeTimers: TimerApi = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Sleeps `ms` in timer steps of at most MAX_TIMER_MS, so a 30-day wait is 30 days and not 1 ms. */
export function sleepWithTimers(ms: number, signal: AbortSignal | undefined, timers: TimerApi = nodeTimers): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    let left = Math.max(0, ms);
    let timer: unknown;
    const onAbort = (): void => {
      timers.clearTimeout(timer);
      reject(abortReason(signal));
    };
    const step = (): void => {
      const chunk = Math.min(left, MAX_TIMER_MS);
      left -= chunk;
      timer = timers.setTimeout(() => {
        if (left > 0) return step();
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, chunk);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    step();
  });
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => sleepWithTimers(ms, signal),
};

export function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new DOMException("aborted", "AbortError");
}

/** True when `err` is what an aborted sleep or exec throws. */
export function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === "AbortError" || (err as { code?: string }).code === "ABORT_ERR");
}
