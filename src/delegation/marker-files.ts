/** Reading a marker at start-up: what the manager does with it (putting a task back is queue/inbox-lock.ts's). */
import { QueueError } from "../queue/errors.js";
import { markerFilePath, pathExists, readTaskFile, taskFilePath } from "../queue/layout.js";
import { decodeUtf8 } from "../queue/task.js";
import { readMarker, type MarkerBlock } from "./marker.js";

export type MarkerFound =
  /** Submitted: follow the job. */
  | { kind: "adopt"; block: Extract<MarkerBlock, { state: "submitted" }> }
  /** Written just before a crash, the task file still beside it: nothing was submitted. */
  | { kind: "discard" }
  /** To be filed under failed/ with the reason. */
  | { kind: "fail"; reason: string }
  | { kind: "gone" };

/** What start-up does with inbox/<id>.md.delegated (see manager.ts for the crash-safety argument). */
export async function inspectMarker(inbox: string, id: string): Promise<MarkerFound> {
  const read = await readTaskFile(markerFilePath(inbox, id));
  switch (read.kind) {
    case "missing":
      return { kind: "gone" };
    case "too-large":
      return { kind: "fail", reason: `its delegation marker is larger than 1 MiB (${read.size} bytes); no job is followed for it` };
    case "symlink":
      return { kind: "fail", reason: `its delegation marker is a symbolic link to ${read.target}; no job is followed for it` };
    case "special":
      return { kind: "fail", reason: `its delegation marker is a ${read.type}, not a regular file; no job is followed for it` };
    case "unreadable":
      // Its job may be running: a marker that cannot be read now is not given up (the start fails, as before).
      throw new QueueError("QUEUE_IO", `cannot read the delegation marker of ${id}: ${read.reason}`);
    case "file":
      break;
  }
  const text = decodeUtf8(read.bytes);
  const marker = text.ok ? readMarker(text.text) : text;
  if (!marker.ok) return { kind: "fail", reason: `its delegation marker cannot be read (${marker.reason}); no job is followed for it` };
  if (marker.block.state === "submitted") return { kind: "adopt", block: marker.block };
  if (await pathExists(taskFilePath(inbox, id))) return { kind: "discard" };
  const key = marker.block.idempotencyKey;
  return {
    kind: "fail",
    reason: `the daemon stopped while submitting this task to the job service${key === undefined ? "" : ` (Idempotency-Key ${key})`}: a job may or may not exist there, so it was not submitted again (a task never runs twice); put the task back in the inbox to run it`,
  };
}
