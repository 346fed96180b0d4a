/**
 * Base error: a stable string `code` to branch on (never the message), and the standard `cause`.
 */
export class AppError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A call made in a lifecycle state that does not allow it. */
export class IllegalStateError extends AppError {
  constructor(message: string) {
    super("ILLEGAL_STATE", message);
  }
}

/** Short description of any thrown value, for logs and aggregated problem lists. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
