import type { Clock } from "../lib/clock.js";
import { clipText } from "../lib/clip.js";
import { describeError } from "../lib/errors.js";
import type { Logger } from "../lib/logger.js";

/** The events contract §7 notifies about. */
export type NotificationKind =
  | "swap-done" | "swap-failed" | "partial-swap" | "all-exhausted" | "resumed"
  | "task-failed" | "session-stalled" | "delegation-failed" | "budget-reached"
  /** A task the work loop cannot hand over, put back or file (a full disk, an I/O error); retried every pass. */
  | "task-stuck";

export interface Notification {
  kind: NotificationKind;
  /** One line a person reads on a phone. */
  text: string;
  /** Events of one kind with the same key are the same event (e.g. the account, the task). */
  key?: string;
}

/** A notification's text is cut to this (Telegram refuses messages past 4096 characters; a phone shows less). */
export const MAX_NOTIFICATION_CHARS = 1000;

/** Somewhere a notification can be sent: Telegram, e-mail, the log. */
export interface NotificationChannel {
  readonly name: string;
  send(n: Notification, signal?: AbortSignal): Promise<void>;
}

/** Logs every notification: the channel that is always there (journald). */
export function logChannel(log: Logger): NotificationChannel {
  return {
    name: "log",
    send: async (n) => void log.warn({ notification: n.kind, key: n.key }, n.text),
  };
}

/**
 * Fans a notification out to every channel, never repeating the same event (kind + key) within
 * `minIntervalMs`; a text past MAX_NOTIFICATION_CHARS is cut. A failing channel is logged, never fatal, and does not stop the others.
 */
export class Notifier {
  private readonly lastSent = new Map<string, number>();

  constructor(private readonly d: { channels: readonly NotificationChannel[]; clock: Clock; log: Logger; minIntervalMs: number }) {}

  async notify(n: Notification): Promise<{ sent: boolean }> {
    const id = `${n.kind}\u0000${n.key ?? ""}`;
    const now = this.d.clock.now();
    const last = this.lastSent.get(id);
    if (last !== undefined && now - last < this.d.minIntervalMs) {
      this.d.log.debug({ notification: n.kind, key: n.key }, "notification suppressed: sent within min_interval");
      return { sent: false };
    }
    this.lastSent.set(id, now);
    if (this.lastSent.size > 10_000) this.lastSent.delete(this.lastSent.keys().next().value!);
    const clipped = n.text.length > MAX_NOTIFICATION_CHARS ? { ...n, text: clipText(n.text, MAX_NOTIFICATION_CHARS) } : n;
    await Promise.all(
      this.d.channels.map((c) =>
        c.send(clipped).catch((err: unknown) => this.d.log.error({ channel: c.name, notification: n.kind, err: describeError(err) }, "notification not sent")),
      ),
    );
    return { sent: true };
  }
}
