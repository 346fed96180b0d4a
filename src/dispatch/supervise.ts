import { createHash } from "node:crypto";
import type { ScreenVerdict } from "../claude/screen.js";
import { TmuxError } from "../tmux/client.js";
import { heldMs, taskKey, timedMs, type TaskRecord } from "./records.js";
import type { TaskOutcomes } from "./task-outcomes.js";
import type { WorkLoopDeps } from "./work-loop.js";

/**
 * One look at a working task (S6–S8), in the order the evidence is trusted: the Stop hook, the signal
 * file, then the screen — a shell (the agent died), a usage limit the quota monitor holds (left to the
 * failover), an error turn or an idle prompt (each confirmed over idle_confirm polls), the task timeout, a stall.
 */
export async function supervise(r: TaskRecord, d: WorkLoopDeps, outcomes: TaskOutcomes, signal: AbortSignal): Promise<void> {
  const key = taskKey(r.project, r.id);
  const since = r.submitted_at ?? r.started_at;
  const now = d.clock.now();
  const stop = d.hooks.stopSince(r.claude_session_id, since);
  if (stop) {
    await outcomes.finish(r, stop.message ?? (await d.lastMessage(r.account, r.cwd, r.claude_session_id)), "stop-hook", signal);
    return;
  }
  if (await d.queue.doneSignal(r.project, r.id)) {
    await outcomes.finish(r, await d.lastMessage(r.account, r.cwd, r.claude_session_id), "signal-file", signal);
    return;
  }
  let screen: ScreenVerdict;
  let capture: string;
  try {
    ({ capture, verdict: screen } = await d.driver.look(r.session, signal));
  } catch (err) {
    if (err instanceof TmuxError && err.code === "TMUX_NO_SESSION") {
      await outcomes.retry(r, `session ${r.session} disappeared`);
      return;
    }
    throw err;
  }
  d.limits?.observeScreen(r, screen);
  const failure = d.hooks.failureSince(r.claude_session_id, since);
  if (screen.state === "shell") {
    await outcomes.retry(r, `the agent in ${r.session} exited (${screen.detail})`);
    return;
  }
  // One decision on usage limits, the monitor's (throttling's StopFailure "rate_limit" is not one): a held task
  // waits for the swap or the reset, untimed; a limit banner it does not hold (yet) is only timed below.
  if (d.limits?.holdsLimit(r)) {
    // The hold is left out of the timeout, and the stall clock stands still meanwhile: once the hold
    // ends (a continuation, or a hold that lapsed) both time the task from there.
    outcomes.update(r, { idle_polls: 0, held_ms: heldMs(r, now), held_at: now, screen_changed_at: now });
    return;
  }
  if (r.held_at !== undefined) outcomes.update(r, { held_at: undefined });
  const limitShown = screen.state === "limit";
  if (!limitShown && (failure || screen.state === "error")) {
    outcomes.update(r, { idle_polls: r.idle_polls + 1 });
    if (r.idle_polls >= d.settings.idleConfirm) {
      await outcomes.retry(r, `the turn ended on an error: ${failure ? `${failure.error}: ${failure.message ?? ""}` : screen.detail}`.slice(0, 300), signal);
    }
    return;
  }
  const hash = createHash("sha1").update(capture).digest("hex");
  if (hash !== r.screen_hash) outcomes.update(r, { screen_hash: hash, screen_changed_at: now });
  if (screen.state === "idle" && !screen.inputText) {
    outcomes.update(r, { idle_polls: r.idle_polls + 1 });
    if (r.idle_polls >= d.settings.idleConfirm) {
      await outcomes.finish(r, await d.lastMessage(r.account, r.cwd, r.claude_session_id), "idle-screen", signal);
    }
    return;
  }
  if (r.idle_polls !== 0) outcomes.update(r, { idle_polls: 0 });
  // held_at was just cleared above: only the finished stretches are left out.
  const timed = timedMs({ ...r, held_at: undefined }, now);
  if (timed > r.timeout_ms) {
    d.record({ type: "task_timed_out", project: r.project, task: r.id, session: r.session, after_ms: timed });
    const held = r.held_ms ? `, ${Math.round(r.held_ms / 1000)} s more held at a usage limit` : "";
    await outcomes.retry(r, `timed out after ${Math.round(timed / 1000)} s (timeout ${Math.round(r.timeout_ms / 1000)} s${held})`, signal);
    return;
  }
  if (now - r.screen_changed_at > d.settings.stallTimeoutMs) {
    d.record({ type: "session_stalled", project: r.project, task: r.id, session: r.session, still_ms: now - r.screen_changed_at });
    await outcomes.retry(r, `stalled: no screen change for ${Math.round((now - r.screen_changed_at) / 1000)} s in ${r.session}`, signal);
    return;
  }
  d.log.debug({ task: key, screen: screen.state, detail: screen.detail }, "task working");
}
