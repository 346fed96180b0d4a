import { AppError } from "../lib/errors.js";

/** Stable codes of QueueError: branch on these, never on the message. */
export type QueueErrorCode =
  | "QUEUE_INVALID_NAME"
  | "QUEUE_UNKNOWN_PROJECT"
  | "QUEUE_NOT_FOUND"
  | "QUEUE_TOO_LARGE"
  | "QUEUE_NOT_UTF8"
  | "QUEUE_IO";

/** A queue operation that could not be done: a bad name, a missing task, a refused submission, an I/O failure. */
export class QueueError extends AppError {
  declare readonly code: QueueErrorCode;
  constructor(code: QueueErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/**
 * An inbox entry was moved into active/ (as `activeId`) to be filed under failed/, and the filing failed: it
 * waits there until the caller files it (`rejection`: the reason and detail it is to be filed with).
 */
export class RejectionStuckError extends QueueError {
  constructor(readonly activeId: string, readonly rejection: { reason: string; detail?: string }, message: string, options: { cause: unknown }) {
    super("QUEUE_IO", message, options);
  }
}
