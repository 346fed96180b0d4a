import { execFile } from "node:child_process";
import type { Clock } from "../lib/clock.js";
import { describeError } from "../lib/errors.js";
import type { Logger } from "../lib/logger.js";
import { PeriodicLoop } from "../lib/loop.js";

/** Sends sd_notify assignments (`READY=1`, …) to the service manager. */
export type NotifySend = (assignments: readonly string[], signal?: AbortSignal) => Promise<void>;

/**
 * Node has no AF_UNIX datagram socket, and a native module is not worth it: `systemd-notify` sends
 * the message. It runs as a child, so the unit needs NotifyAccess=all; since systemd 246 it waits
 * (BARRIER=1) until the manager has read the message, so the child exiting first no longer loses it.
 */
export function systemdNotifySend(env: NodeJS.ProcessEnv, command = "systemd-notify"): NotifySend {
  return (assignments, signal) =>
    new Promise<void>((resolve, reject) => {
      execFile(command, [...assignments], { env, timeout: 10_000, ...(signal ? { signal } : {}) }, (err, _stdout, stderr) => {
        if (err) reject(new Error(`${command} ${assignments.join(" ")}: ${describeError(err)}${stderr ? ` (${stderr.trim().slice(0, 200)})` : ""}`));
        else resolve();
      });
    });
}

export interface SdNotifierDeps {
  env: NodeJS.ProcessEnv;
  pid: number;
  send: NotifySend;
  clock: Clock;
  log: Logger;
  /** Whether the daemon's loops are alive: the watchdog is fed only while they are. */
  alive: () => { ok: true } | { ok: false; reason: string };
}

/** The watchdog period asked for by the unit (WatchdogSec), when it is meant for this process. */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv, pid: number): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isFinite(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 1000));
}

/**
 * READY=1 once the loops run, WATCHDOG=1 every half WatchdogSec while the loops are alive (so a wedged
 * daemon is restarted by systemd; a stuck task is not a reason: a restart would not help it), STOPPING=1 on an orderly stop. Without NOTIFY_SOCKET
 * (not under systemd, or Type=simple) it does nothing. Sending never throws out: a failure is logged.
 */
export class SdNotifier {
  private watchdog: PeriodicLoop | undefined;
  private unhealthy = false;

  constructor(private readonly d: SdNotifierDeps) {}

  get enabled(): boolean {
    return Boolean(this.d.env.NOTIFY_SOCKET);
  }

  async ready(status: string): Promise<void> {
    await this.send(["READY=1", `STATUS=${status}`]);
    const every = watchdogIntervalMs(this.d.env, this.d.pid);
    if (!this.enabled || every === undefined) return;
    this.watchdog = new PeriodicLoop({
      name: "sd-watchdog", intervalMs: Math.max(1, Math.floor(every / 2)), clock: this.d.clock, log: this.d.log,
      tick: async (signal) => {
        const h = this.d.alive();
        if (!h.ok) {
          // Not fed: systemd restarts the unit once WatchdogSec passes without a ping.
          if (!this.unhealthy) this.d.log.warn({ reason: h.reason }, "watchdog not fed: the daemon is not alive");
          this.unhealthy = true;
          return;
        }
        this.unhealthy = false;
        await this.send(["WATCHDOG=1"], signal);
      },
    });
    this.watchdog.start();
  }

  async stopping(): Promise<void> {
    await this.watchdog?.stop();
    await this.send(["STOPPING=1"]);
  }

  private async send(assignments: string[], signal?: AbortSignal): Promise<void> {
    if (!this.enabled) return;
    try {
      await this.d.send(assignments, signal);
    } catch (err) {
      this.d.log.warn({ err: describeError(err), message: assignments[0] }, "sd_notify failed");
    }
  }
}
