/**
 * The delegation manager (contract §8): offers waiting tasks to the remote job service, keeps the
 * `inbox/<id>.md.delegated` markers, and reaps finished jobs into done/ or failed/.
 *
 * Crash safety — never two jobs for one task, never a lost task. The marker is the write-ahead record:
 *   1. write the marker in state `submitting` (temp, fsync, rename, fsync), then unlink `<id>.md`, fsync;
 *   2. submit the job;
 *   3. rewrite the marker in state `submitted` with the job id (atomic replace).
 * A failed submit puts `<id>.md` back (no-clobber) and removes the marker: the task runs locally. The submit's
 * Idempotency-Key is made once per task and kept (in the marker, and in memory after a failure) for every retry and
 * re-offer of the same file: a submit that timed out after the service took it is answered with that job, not a second.
 * On restart: a `submitted` marker is re-adopted; a `submitting` marker beside its `<id>.md` is a crash
 * before step 2 (nothing was sent): the marker goes and the task waits; a `submitting` marker alone is a crash
 * during step 2, when the job may or may not exist: it is failed with that reason and never resubmitted.
 * stop() waits for submissions in flight so a clean restart never leaves that last case behind.
 *
 * The work loop offers tasks inside its pass, so an offer is bounded: a submit gets SUBMIT_DEADLINE_MS in all
 * (the client's retries and Retry-After waits included), and after a failure that says the service is down
 * or slow, nothing is offered for OFFER_PAUSE_MS (those tasks run locally, as after a failed submit).
 */
import { createHash, randomUUID } from "node:crypto";
import type { Stats } from "node:fs";
import { lstat } from "node:fs/promises";
import { writeFileAtomic } from "../lib/atomic-fs.js";
import { clipText } from "../lib/clip.js";
import { formatDuration } from "../lib/duration.js";
import { describeError, IllegalStateError } from "../lib/errors.js";
import type { Logger } from "../lib/logger.js";
import { PeriodicLoop } from "../lib/loop.js";
import { removeMarker, removeWaitingIfUnchanged, restoreWaiting, type FileIdentity } from "../queue/inbox-lock.js";
import { formatIso, MAX_REASON_CHARS } from "../queue/footer.js";
import { listNames, markerFilePath, pathExists, projectFolders, readTaskFile, taskFilePath } from "../queue/layout.js";
import { isDelegatedName, isValidProjectName, isValidTaskId, MARKER_SUFFIX } from "../queue/names.js";
import { MAX_TASK_BYTES, parseTask, type Task } from "../queue/task.js";
import { DailyBudget } from "./budget.js";
import { isTransient, type Job, type JobStatus, type SubmitAnswer, type SubmitRequest } from "./client.js";
import { DelegationError } from "./errors.js";
import { finishMarker, recoverMarkerFinishes, type MarkerFinish, type ProjectDirs } from "./marker-finish.js";
import { inspectMarker } from "./marker-files.js";
import { markTask, type MarkerBlock } from "./marker.js";
import { explainRoute, type DelegatedProvider } from "./router.js";
import type { DelegatedJobView, DelegationCounters, DelegationManagerDeps, DelegationState, DelegationStatus, OfferAnswer } from "./manager-types.js";

export type {
  DelegatedJobView, DelegationCounters, DelegationEvent, DelegationManagerDeps, DelegationNotice, DelegationQueueLayout, DelegationState, DelegationStatus, OfferAnswer,
} from "./manager-types.js";

interface ActiveJob {
  project: string;
  id: string;
  jobId: string;
  provider: DelegatedProvider;
  submittedAt: number;
  lastPolledAt?: number;
  lastStatus?: JobStatus;
  lastError?: string;
}

/** A waiting task that routes to a provider, as read when it was offered. */
interface Offer {
  task: Task;
  provider: DelegatedProvider;
  /** Why it routes there (explainRoute's reason). */
  rule: string;
  bytes: Uint8Array;
  /** The file as read: the hand-off removes it only if it is still this one, a failed submit restores its mtime. */
  before: Stats;
  /** The submit's Idempotency-Key: the one an earlier failed submit of the same file used, else a new one. */
  key: string;
}

/** One submit, its retries included: past this the offer gives up and the task runs locally. */
export const SUBMIT_DEADLINE_MS = 20_000;
/** After a submit timed out or met an outage, nothing is offered for this long (each offer would wait again). */
export const OFFER_PAUSE_MS = 5 * 60_000;


// Remembered local routing decisions; past this many the memory starts over (a re-read costs one parse).
const ROUTED_LOCAL_MAX = 50_000;

export class DelegationManager {
  private lifecycle: DelegationState = "idle";
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private readonly jobs = new Map<string, ActiveJob>();
  private readonly offering = new Map<string, Promise<unknown>>();
  private readonly loop: PeriodicLoop;
  private readonly budget: DailyBudget;
  private readonly log: Logger;
  private reaping: Promise<void> = Promise.resolve();
  /** `project/id` → file identity (inode, size, mtime) of tasks whose frontmatter routes local. */
  private readonly routedLocal = new Map<string, string>();
  /** `project/id` → the key of a failed submit and the digest of the file it sent, for a re-offer of that file. */
  private readonly retryKeys = new Map<string, { digest: string; key: string }>();
  private completedTotal = 0;
  private failedTotal = 0;
  /** Until when offers are refused after the service timed out or failed (0: not paused). */
  private pausedUntil = 0;

  constructor(private readonly d: DelegationManagerDeps) {
    this.log = d.log.child({ component: "delegation" });
    this.budget = new DailyBudget({ stateDir: d.stateDir, limitUsd: d.settings.dailyBudgetUsd, clock: d.clock, log: this.log });
    this.loop = new PeriodicLoop({ name: "delegation-reaper", intervalMs: d.settings.reapIntervalMs, clock: d.clock, log: this.log, tick: (s) => this.reapOnce(s) });
  }

  get state(): DelegationState {
    return this.lifecycle;
  }

  /** Re-adopts every marker across projects, loads the day's spend, starts the reaper. Same promise when called again. */
  start(): Promise<void> {
    if (this.lifecycle === "stopping" || this.lifecycle === "stopped") {
      return Promise.reject(new IllegalStateError(`delegation manager cannot start from state ${this.lifecycle}`));
    }
    this.starting ??= (async () => {
      this.lifecycle = "starting";
      await this.budget.load();
      for (const project of Object.keys(this.d.queue.projects).sort()) await this.adoptProject(project);
      this.lifecycle = "running";
      this.loop.start();
      this.log.info({ active: this.jobs.size }, "delegation started");
    })();
    return this.starting;
  }

  /** Waits for submissions in flight, stops the reaper. Same promise when called again. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.lifecycle === "idle") {
        this.lifecycle = "stopped";
        return;
      }
      await this.starting?.catch(() => undefined);
      this.lifecycle = "stopping";
      await Promise.allSettled([...this.offering.values()]);
      await this.loop.stop();
      this.lifecycle = "stopped";
    })();
    return this.stopping;
  }

  /** Runs a reaper pass now rather than at the end of the current wait. */
  poke(): void {
    this.loop.poke();
  }

  /**
   * Called by the work loop before it claims inbox/<id>.md. "delegated": the task is now the remote service's
   * (its marker replaced it in the inbox). "local": claim it as usual — it routes local, the budget is spent,
   * the submit failed, it cannot be parsed (the claim fails it with the reason), or delegation is not running.
   * "held": leave it waiting — the jobs still running may use up the budget; it is offered again once one finishes.
   */
  async offer(project: string, id: string): Promise<OfferAnswer> {
    const key = `${project}/${id}`;
    if (this.lifecycle !== "running" || !isValidProjectName(project) || !Object.hasOwn(this.d.queue.projects, project) || !isValidTaskId(id)) return "local";
    if (this.offering.has(key) || this.jobs.has(key)) return "local";
    if (this.d.clock.now() < this.pausedUntil) return "local";
    const run = this.offerTask(project, id).catch((err: unknown): OfferAnswer => {
      this.log.error({ project, task: id, err: describeError(err) }, "delegation offer failed; the task runs locally");
      return "local" as const;
    });
    this.offering.set(key, run);
    try {
      return await run;
    } finally {
      this.offering.delete(key);
    }
  }

  /** True while the task is delegated: such tasks are never stale (contract §7). */
  isDelegated(project: string, id: string): boolean {
    return this.jobs.has(`${project}/${id}`);
  }

  counters(): DelegationCounters {
    return { active: this.jobs.size, completed_total: this.completedTotal, failed_total: this.failedTotal };
  }

  /** For `GET /api/delegated/status`. */
  status(): DelegationStatus {
    const active = [...this.jobs.values()].sort((a, b) => a.submittedAt - b.submittedAt).map((j): DelegatedJobView => ({
      project: j.project, id: j.id, job_id: j.jobId, provider: j.provider, submitted_at: formatIso(j.submittedAt),
      ...(j.lastStatus ? { last_status: j.lastStatus } : {}), ...(j.lastError ? { last_error: j.lastError } : {}),
    }));
    return { active, counters: this.counters(), budget: this.budget.snapshot() };
  }

  /**
   * One reaper pass: polls every active job due for a poll and files the finished ones. Never throws on a job's
   * account. Passes run one after another, never side by side (the loop's and a caller's).
   */
  reapOnce(signal?: AbortSignal): Promise<void> {
    const run = this.reaping.then(() => this.reapPass(signal));
    this.reaping = run.catch(() => undefined);
    return run;
  }

  private async reapPass(signal: AbortSignal | undefined): Promise<void> {
    for (const job of [...this.jobs.values()]) {
      if (signal?.aborted) return;
      const now = this.d.clock.now();
      if (job.lastPolledAt !== undefined && now - job.lastPolledAt < this.d.settings.pollIntervalMs) continue;
      try {
        await this.reapJob(job, signal);
      } catch (err) {
        if (signal?.aborted) return;
        this.log.error({ project: job.project, task: job.id, job_id: job.jobId, err: describeError(err) }, "cannot file a delegated task; retrying at the next pass");
      }
    }
  }

  private async offerTask(project: string, id: string): Promise<OfferAnswer> {
    const offer = await this.readOffer(project, id);
    if (offer === undefined) return "local";
    // Spend is counted when a job is reaped: the running ones are counted at an estimate, or a pass would send them all.
    if (!this.budget.reached() && this.budget.wouldReach(this.jobs.size)) {
      this.log.debug({ project, task: id, running: this.jobs.size, ...this.budget.snapshot() }, "the running jobs may use up the delegation budget; the task waits");
      return "held";
    }
    const intent = await this.intentFor(project, id, offer);
    if (intent === undefined) return "local";
    // Step 1: the write-ahead marker, then the task file leaves (only if it is still the file we read).
    if (!(await this.handOff(project, id, intent, offer.before))) return "local";
    // Step 2, bounded (see the header): the work loop's pass waits for it.
    const jobId = await this.submitJob(project, id, offer);
    if (jobId === undefined) return "local";
    // Step 3: the job id, durably. Should this write fail, the job is still followed from memory until a restart.
    const submittedAt = this.d.clock.now();
    await this.recordJobId(project, id, offer, { state: "submitted", jobId, provider: offer.provider, submittedAt });
    this.jobs.set(`${project}/${id}`, { project, id, jobId, provider: offer.provider, submittedAt });
    this.log.info({ project, task: id, job_id: jobId, provider: offer.provider, rule: offer.rule }, "task delegated");
    this.emit({ type: "delegation_submitted", project, task: id, job_id: jobId, provider: offer.provider });
    return "delegated";
  }

  /** The waiting task when its frontmatter routes it to a provider; undefined when it stays local (gone, unreadable, not a task, routed local). */
  private async readOffer(project: string, id: string): Promise<Offer | undefined> {
    const file = taskFilePath(this.dirs(project).inbox, id);
    const before = await lstat(file).catch(() => undefined);
    if (!before) return undefined;
    const key = `${project}/${id}`;
    const identity = `${before.ino}:${before.size}:${before.mtimeMs}`;
    // The work loop may offer every waiting task on every pass: a file already read as local is not read again.
    if (this.routedLocal.get(key) === identity) return undefined;
    const read = await readTaskFile(file);
    if (read.kind !== "file") return undefined;
    const parsed = await parseTask({ bytes: read.bytes, project, projectDir: this.d.queue.projects[project]!, fileName: `${id}.md` });
    if (!parsed.ok) return undefined;
    const route = explainRoute(parsed.task.frontmatter);
    if (route.route === "local") {
      if (this.routedLocal.size >= ROUTED_LOCAL_MAX) this.routedLocal.clear();
      this.routedLocal.set(key, identity);
      return undefined;
    }
    const digest = sha256(read.bytes);
    const earlier = this.retryKeys.get(key);
    return { task: parsed.task, provider: route.route, rule: route.reason, bytes: read.bytes, before, key: earlier?.digest === digest ? earlier.key : randomUUID() };
  }

  /** The write-ahead marker's text; undefined (the task runs locally) when the budget is spent, the id is delegated already, or the task cannot be marked. */
  private async intentFor(project: string, id: string, offer: Offer): Promise<string | undefined> {
    if (this.budget.reached()) {
      this.log.info({ project, task: id, provider: offer.provider, ...this.budget.snapshot() }, "daily delegation budget reached; the task runs locally");
      await this.noticeBudget();
      return undefined;
    }
    if (await pathExists(markerFilePath(this.dirs(project).inbox, id))) {
      this.log.warn({ project, task: id }, "a delegated task with this id is still in the inbox; this one runs locally");
      return undefined;
    }
    const intent = markTask(offer.task.raw, { state: "submitting", provider: offer.provider, requestedAt: this.d.clock.now(), idempotencyKey: offer.key });
    if (!intent.ok || Buffer.byteLength(intent.text) > MAX_TASK_BYTES) {
      this.log.warn({ project, task: id, reason: intent.ok ? "the marker would pass the 1 MiB task limit" : intent.reason }, "cannot mark the task as delegated; it runs locally");
      return undefined;
    }
    return intent.text;
  }

  /** Writes the marker, then removes the task file if it is still the one read; false (marker gone again) when it is not. */
  private async handOff(project: string, id: string, intent: string, before: FileIdentity): Promise<boolean> {
    const { root } = this.d.queue;
    const inbox = this.dirs(project).inbox;
    try {
      await writeFileAtomic(markerFilePath(inbox, id), intent);
    } catch (err) {
      await removeMarker(root, project, id).catch(() => undefined);
      throw err;
    }
    try {
      if (await removeWaitingIfUnchanged(root, project, id, before)) return true;
      await removeMarker(root, project, id);
      return false;
    } catch (err) {
      // A marker must not outlive a task file still waiting: a local run and a restart would both file it.
      if (await pathExists(taskFilePath(inbox, id)).catch(() => false)) await removeMarker(root, project, id).catch(() => undefined);
      throw err;
    }
  }

  /** The new job's id; undefined when the submit failed and the task is back in the inbox (it runs locally). */
  private async submitJob(project: string, id: string, offer: Offer): Promise<string | undefined> {
    const { task, provider } = offer;
    try {
      const answer = await this.submitWithin({ provider, prompt: task.prompt, metadata: { task_id: id, project, complexity_hint: task.meta.complexity_hint ?? null } }, offer.key);
      this.retryKeys.delete(`${project}/${id}`);
      return answer.id;
    } catch (err) {
      if (err instanceof DelegationError && isTransient(err)) this.pause(err);
      const as = await restoreWaiting(this.d.queue.root, project, id, offer.bytes, offer.before.mtime, this.d.clock.now());
      // The service may have made the job: offered again, the same file carries the same key and gets that job back.
      if (this.retryKeys.size >= ROUTED_LOCAL_MAX) this.retryKeys.clear();
      this.retryKeys.set(`${project}/${as}`, { digest: sha256(offer.bytes), key: offer.key });
      if (as !== id) this.log.warn({ project, task: id, as }, "a new task took the name meanwhile; the task waits under another id");
      const code = err instanceof DelegationError ? err.code : "UNKNOWN";
      this.log.warn({ project, task: id, provider, code, err: describeError(err) }, "job submit failed; the task runs locally");
      this.emit({ type: "delegation_submit_failed", project, task: id, provider, code, error: describeError(err) });
      return undefined;
    }
  }

  /** The submit, cut short (DELEGATION_TIMEOUT) once SUBMIT_DEADLINE_MS have passed on the manager's clock. */
  private async submitWithin(request: SubmitRequest, key: string): Promise<SubmitAnswer> {
    const cut = new AbortController();
    const deadline = this.d.clock.sleep(SUBMIT_DEADLINE_MS, cut.signal).then(() => {
      throw new DelegationError("DELEGATION_TIMEOUT", `the job service did not take the job within ${formatDuration(SUBMIT_DEADLINE_MS)}`);
    });
    try {
      return await Promise.race([this.d.client.submit(request, cut.signal, key), deadline]);
    } finally {
      cut.abort();
    }
  }

  private pause(err: DelegationError): void {
    const now = this.d.clock.now();
    if (now < this.pausedUntil) return;
    this.pausedUntil = now + OFFER_PAUSE_MS;
    this.log.warn({ code: err.code, pause: formatDuration(OFFER_PAUSE_MS) }, "the job service is down or slow; no task is offered to it for a while (they run locally)");
  }

  /** Rewrites the marker with the job id; a failure is logged, not thrown (the job is followed from memory). */
  private async recordJobId(project: string, id: string, offer: Offer, block: Extract<MarkerBlock, { state: "submitted" }>): Promise<void> {
    const done = markTask(offer.task.raw, block);
    try {
      if (!done.ok) throw new Error(done.reason);
      await writeFileAtomic(markerFilePath(this.dirs(project).inbox, id), done.text);
    } catch (err) {
      this.log.error({ project, task: id, job_id: block.jobId, err: describeError(err) }, "cannot record the job id in the marker; a restart will fail this task rather than submit it again");
    }
  }

  private async reapJob(job: ActiveJob, signal: AbortSignal | undefined): Promise<void> {
    let seen: Job | undefined;
    let error: DelegationError | undefined;
    try {
      seen = await this.d.client.get(job.jobId, signal);
    } catch (err) {
      if (signal?.aborted) throw err;
      error = err instanceof DelegationError ? err : new DelegationError("DELEGATION_NETWORK", describeError(err));
    }
    const now = this.d.clock.now();
    job.lastPolledAt = now;
    if (seen?.status === "completed") return this.fileJob(job, { outcome: "done", body: seen.result ?? "", cost: seen.cost_usd });
    if (seen?.status === "failed") {
      const body = `the job service reports job ${job.jobId} (${job.provider}) failed: ${seen.error ?? "no reason given"}`;
      return this.fileJob(job, { outcome: "failed", body, reason: clipText(body, MAX_REASON_CHARS), cost: seen.cost_usd });
    }
    if (error?.code === "DELEGATION_HTTP" && error.status === 404) {
      const reason = `the job service no longer knows job ${job.jobId} (HTTP 404)`;
      return this.fileJob(job, { outcome: "failed", body: reason, reason });
    }
    if (seen) job.lastStatus = seen.status;
    job.lastError = error?.message;
    if (now - job.submittedAt >= this.d.settings.jobTimeoutMs) {
      const last = [job.lastStatus ? `last status: ${job.lastStatus}` : "status never seen", job.lastError ? `last error: ${job.lastError}` : ""].filter(Boolean).join("; ");
      const reason = clipText(`job ${job.jobId} (${job.provider}) did not finish within ${formatDuration(this.d.settings.jobTimeoutMs)} (${last})`, MAX_REASON_CHARS);
      return this.fileJob(job, { outcome: "failed", body: reason, reason });
    }
    if (error) this.log.warn({ project: job.project, task: job.id, job_id: job.jobId, code: error.code, err: error.message }, "cannot poll a delegated job; trying again at the next pass");
  }

  private async fileJob(job: ActiveJob, o: { outcome: "done" | "failed"; body: string; reason?: string; cost?: number | undefined }): Promise<void> {
    // The spend is counted (once per job id) before the file moves: a crash in between re-reaps without double counting.
    // A job without a cost counts as 0, so that the day's mean cost (the budget's estimate) knows of it.
    await this.budget.add(job.jobId, o.cost ?? 0);
    const finishedAt = this.d.clock.now();
    const content: MarkerFinish = {
      outcome: o.outcome, body: o.body, ...(o.reason === undefined ? {} : { reason: o.reason }),
      fields: { attempts: 1, startedAt: job.submittedAt, finishedAt, provider: job.provider, ...(o.cost === undefined ? {} : { costUsd: o.cost }) },
    };
    const filed = await finishMarker(this.dirs(job.project), job.id, content, finishedAt);
    this.jobs.delete(`${job.project}/${job.id}`);
    if (!filed) {
      this.log.warn({ project: job.project, task: job.id, job_id: job.jobId }, "the delegated task's marker is gone (removed by hand?); its result is dropped");
      this.emit({ type: "delegation_marker_missing", project: job.project, task: job.id, job_id: job.jobId });
      return;
    }
    const event = { project: job.project, task: job.id, job_id: job.jobId, provider: job.provider, file: filed.file, ...(o.cost === undefined ? {} : { cost_usd: o.cost }) };
    if (filed.outcome === "done") {
      this.completedTotal++;
      this.log.info(event, "delegated task done");
      this.emit({ type: "delegation_completed", ...event });
    } else {
      this.failedTotal++;
      this.log.warn({ ...event, reason: o.reason }, "delegated task failed");
      this.emit({ type: "delegation_failed", ...event, reason: o.reason });
      this.notifyFailed(job.project, job.id, o.reason ?? o.body, job.jobId, job.provider);
    }
    if (this.budget.reached()) await this.noticeBudget();
  }

  // Start-up, per project: finishes a crash interrupted, then every marker is adopted, discarded or failed.
  private async adoptProject(project: string): Promise<void> {
    const dirs = this.dirs(project);
    for (const r of await recoverMarkerFinishes(dirs, this.d.clock.now())) {
      this.log.warn({ project, task: r.id, outcome: r.outcome, file: r.file }, "completed a delegated task's filing interrupted by a crash");
      this.emit({ type: "delegation_finish_recovered", project, task: r.id, outcome: r.outcome, file: r.file });
    }
    for (const name of (await listNames(dirs.inbox)).sort()) {
      if (!isDelegatedName(name)) continue;
      const id = name.slice(0, -MARKER_SUFFIX.length);
      if (!isValidTaskId(id)) {
        this.log.warn({ project, file: name }, "ignoring a delegation marker whose name is not a task id");
        continue;
      }
      try {
        await this.adoptMarker(project, dirs, id);
      } catch (err) {
        this.log.error({ project, task: id, err: describeError(err) }, "cannot adopt a delegation marker; it is left in place");
      }
    }
  }

  private async adoptMarker(project: string, dirs: ProjectDirs, id: string): Promise<void> {
    const found = await inspectMarker(dirs.inbox, id);
    if (found.kind === "gone") return;
    if (found.kind === "adopt") {
      const b = found.block;
      this.jobs.set(`${project}/${id}`, { project, id, jobId: b.jobId, provider: b.provider, submittedAt: b.submittedAt });
      this.log.info({ project, task: id, job_id: b.jobId, provider: b.provider }, "delegated task re-adopted");
      this.emit({ type: "delegation_readopted", project, task: id, job_id: b.jobId, provider: b.provider });
      return;
    }
    if (found.kind === "discard") {
      await removeMarker(this.d.queue.root, project, id);
      this.log.info({ project, task: id }, "dropped a delegation marker written just before a crash; the task waits in the inbox");
      this.emit({ type: "delegation_marker_discarded", project, task: id });
      return;
    }
    const now = this.d.clock.now();
    const filed = await finishMarker(dirs, id, { outcome: "failed", body: found.reason, reason: found.reason, fields: { attempts: 1, finishedAt: now } }, now);
    if (!filed) return;
    this.failedTotal++;
    this.log.warn({ project, task: id, file: filed.file, reason: found.reason }, "delegated task failed at start-up");
    this.emit({ type: "delegation_failed", project, task: id, file: filed.file, reason: found.reason });
    this.notifyFailed(project, id, found.reason);
  }

  private notifyFailed(project: string, task: string, reason: string, jobId?: string, provider?: string): void {
    this.tell({
      kind: "delegation_failed", project, task, reason, ...(jobId ? { job_id: jobId } : {}), ...(provider ? { provider } : {}),
      message: `Delegated task ${project}/${task} failed: ${reason}`,
    });
  }

  private async noticeBudget(): Promise<void> {
    if (!(await this.budget.claimNotice())) return;
    const b = this.budget.snapshot();
    this.emit({ type: "delegation_budget_reached", day: b.day, spent_usd: b.spent_usd, daily_budget_usd: b.daily_budget_usd });
    this.tell({
      kind: "budget_reached", day: b.day, spent_usd: b.spent_usd, daily_budget_usd: b.daily_budget_usd,
      message: `Delegation budget reached for ${b.day}: $${b.spent_usd} of $${b.daily_budget_usd}; new delegated tasks run locally until 00:00 UTC`,
    });
  }

  // The callbacks are the daemon's; one that throws must not undo a filing or turn "delegated" into "local".
  private emit(event: Parameters<DelegationManagerDeps["record"]>[0]): void {
    try {
      this.d.record(event);
    } catch (err) {
      this.log.error({ event: event.type, err: describeError(err) }, "recording a delegation event failed");
    }
  }

  private tell(notice: Parameters<DelegationManagerDeps["notify"]>[0]): void {
    try {
      this.d.notify(notice);
    } catch (err) {
      this.log.error({ notice: notice.kind, err: describeError(err) }, "a delegation notification failed");
    }
  }

  private dirs(project: string): ProjectDirs {
    return projectFolders(this.d.queue.root, project);
  }
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
