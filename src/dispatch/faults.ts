import type { Clock } from "../lib/clock.js";
import type { Logger } from "../lib/logger.js";

/** A task the work loop could not hand over, put back or file: it is retried every pass until it settles. */
export interface TaskFault {
  /** "project/id". */
  task: string;
  reason: string;
  /** When the fault was first seen (epoch ms). */
  since: number;
}

/**
 * The open faults of the work loop, by task. `raise` tells `onFault` once per fault (not once per
 * pass: the loop retries every poll); `clear` closes it when the task has settled.
 */
export class FaultBook {
  private readonly open = new Map<string, TaskFault>();

  constructor(private readonly d: { clock: Clock; log: Logger; onFault?: (fault: TaskFault) => void }) {}

  raise(task: string, reason: string): void {
    const known = this.open.get(task);
    if (known) {
      known.reason = reason;
      return;
    }
    const fault = { task, reason, since: this.d.clock.now() };
    this.open.set(task, fault);
    this.d.log.error({ task, reason }, "task stuck: retried every pass until it can be put back or filed");
    this.d.onFault?.({ ...fault });
  }

  clear(task: string): void {
    const fault = this.open.get(task);
    if (!fault) return;
    this.open.delete(task);
    this.d.log.info({ task, stuck_ms: this.d.clock.now() - fault.since }, "task no longer stuck");
  }

  list(): TaskFault[] {
    return [...this.open.values()].map((f) => ({ ...f }));
  }
}
