import { AppError } from "../lib/errors.js";

/** Refused for what was asked: an unknown, current or broken account, or none to go to. */
const BAD_REQUEST = new Set(["SWAP_SAME_ACCOUNT", "SWAP_UNKNOWN_ACCOUNT", "SWAP_TARGET_BROKEN", "SWAP_NO_TARGET"]);
/** Refused for the daemon's state: a swap runs, or an earlier one ended partial (until a restart). */
const CONFLICT = new Set(["SWAP_IN_PROGRESS", "SWAP_PARTIAL_STATE", "SWAP_NO_ACTIVE"]);

/**
 * POST /api/swap's answer to a swap that threw (contract §7): 400 for the request, 409 for the state, 500 when the
 * swap failed — rolled back, never started for a fault, or ended partial (the requests after that one get 409).
 */
export function swapErrorStatus(err: unknown): { status: 400 | 409 | 500; code: string } {
  const code = err instanceof AppError ? err.code : "SWAP_FAILED";
  return { status: BAD_REQUEST.has(code) ? 400 : CONFLICT.has(code) ? 409 : 500, code };
}
