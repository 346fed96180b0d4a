import { test } from "node:test";
import assert from "node:assert/strict";
import { SwapError, type SwapErrorCode } from "../accounts/swap-journal.js";
import { swapErrorStatus } from "./swap-status.js";

test("POST /api/swap: 500 when the swap failed (rolled back, partial, not started for a fault), 409 while one runs or after a partial swap, 400 for the request (contract §7)", () => {
  const cases: [SwapErrorCode, number][] = [
    ["SWAP_LINKS_BROKEN", 500], ["SWAP_FLIP_FAILED", 500], ["SWAP_RECORD_FAILED", 500], ["SWAP_PARTIAL", 500],
    ["SWAP_CAPTURE_FAILED", 500], ["SWAP_JOURNAL_FAILED", 500],
    ["SWAP_IN_PROGRESS", 409], ["SWAP_PARTIAL_STATE", 409], ["SWAP_NO_ACTIVE", 409],
    ["SWAP_SAME_ACCOUNT", 400], ["SWAP_UNKNOWN_ACCOUNT", 400], ["SWAP_TARGET_BROKEN", 400], ["SWAP_NO_TARGET", 400],
  ];
  for (const [code, status] of cases) assert.deepEqual(swapErrorStatus(new SwapError(code, "x", { rolledBack: true })), { status, code }, code);
  assert.deepEqual(swapErrorStatus(new Error("boom")), { status: 500, code: "SWAP_FAILED" });
});
