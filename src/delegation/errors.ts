import { AppError } from "../lib/errors.js";

/** Stable codes of DelegationError: branch on these, never on the message. */
export type DelegationErrorCode =
  /** The key or URL is missing or unusable (ccl-delegate: exit 2). */
  | "DELEGATION_CONFIG"
  /** A job id that is not `[A-Za-z0-9_-][A-Za-z0-9._-]*` (it would become part of a URL path and a file). */
  | "DELEGATION_INVALID_JOB_ID"
  /** The service could not be reached, or the connection broke (after the retries). */
  | "DELEGATION_NETWORK"
  /** A request got no complete answer within its timeout (after the retries). */
  | "DELEGATION_TIMEOUT"
  /** The service answered an HTTP error (`status` says which), after the retries where they apply. */
  | "DELEGATION_HTTP"
  /** The answer is not what the contract says: not JSON, the wrong shape, too large. */
  | "DELEGATION_BAD_RESPONSE"
  /** The caller's signal aborted the call. */
  | "DELEGATION_ABORTED"
  /** waitForResult: the job ended `failed` (`job` holds it). */
  | "DELEGATION_JOB_FAILED"
  /** waitForResult: the job had not finished when the wait's timeout passed. */
  | "DELEGATION_WAIT_TIMEOUT";

/**
 * A delegation call that did not succeed. Messages name the URL (never its credentials) and what was
 * expected; the API key never appears in a message, a cause or a log field.
 */
export class DelegationError extends AppError {
  declare readonly code: DelegationErrorCode;
  /** HTTP status, for DELEGATION_HTTP. */
  readonly status: number | undefined;
  /** Requests made, retries included. */
  readonly attempts: number | undefined;
  /** The job as last seen, for DELEGATION_JOB_FAILED (and DELEGATION_WAIT_TIMEOUT when one was seen). */
  readonly job: unknown;
  constructor(code: DelegationErrorCode, message: string, options: { status?: number; attempts?: number; job?: unknown; cause?: unknown } = {}) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status;
    this.attempts = options.attempts;
    this.job = options.job;
  }
}
