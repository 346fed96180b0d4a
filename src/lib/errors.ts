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

/** The errno code of a Node system error (`ENOENT`, `EACCES` …), if any. */
export function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === "string" ? code : undefined;
}

/** True when a file system call failed because its path does not exist. */
export function isNotFound(err: unknown): boolean {
  return errnoOf(err) === "ENOENT";
}

/** What `op` resolves to, or `fallback` when it fails because its path does not exist; other errors are thrown. */
export async function orIfMissing<T, F>(op: Promise<T>, fallback: F): Promise<T | F> {
  try {
    return await op;
  } catch (err) {
    if (isNotFound(err)) return fallback;
    throw err;
  }
}
