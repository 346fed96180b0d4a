// Scale (contract §10): start-up with many waiting tasks across many projects. The scans are timed on
// their own with the daemon's code (TaskQueue, StatusPublisher) next to a bare readdir + lstat of the
// same files, then the daemon is started on that queue and timed to its first full pass.
import { watch as fsWatch } from "node:fs";
import { access, lstat, readdir, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import type { TaskLedger } from "../../src/dispatch/records.js";
import { DashboardFeed, FINISHED_SHOWN, WAITING_SHOWN } from "../../src/daemon/dashboard-feed.js";
import { StatusPublisher } from "../../src/daemon/status-publisher.js";
import { viewFrame } from "../../src/http/dashboard/routes.js";
import { systemClock } from "../../src/lib/clock.js";
import { silentLogger } from "../../src/lib/logger.js";
import { TaskQueue } from "../../src/queue/queue.js";
import { TaskBoard } from "../../src/queue/status.js";
import { EventLog } from "../../src/state/event-log.js";
import { InboxWatcher } from "../../src/queue/watcher.js";
import { openSandbox, startDaemon, type BenchContext } from "./harness.js";
import { forceGc, now, sleep, waitFor } from "./support.js";

export interface ScaleResults {
  files: number;
  projects: number;
  writeMs: number;
  /** Floor: readdir of every inbox, lstat of every file (64 at a time, as the scanner does). */
  bareScan: number[];
  /** TaskQueue.scanInbox over every project with a fresh cache: one lstat and a 4 KiB read per file. */
  coldScan: number;
  /** The same queue again: lstat only (what each dispatch pass with a free session costs). */
  warmScan: number[];
  /** The first StatusPublisher pass: scan, counts, every status.json written durably (again once a minute). */
  statusWrite: number;
  /** Later passes with nothing changed: scan, counts and the dashboard's list, no file written (every 10 s in the daemon). */
  statusPass: number[];
  /** The dashboard's snapshot built and its view frame rendered (what an open page asks for every 2 s). */
  dashboardBuild: number[];
  /** That frame's size and the tasks it lists. */
  dashboardFrameBytes: number;
  dashboardRows: number;
  tasksSeen: number;
  startMs: number;
  /** start() called → every project's status.json written by the daemon's first pass. */
  firstPassMs: number | undefined;
  /** CPU of this process from start() to the end of the first pass. */
  firstPassCpuMs: number;
  rssBefore: number;
  rssAfterPass: number;
  rssSettled: number;
  /** V8 heap in use after a full GC, before start and once the first pass has settled. */
  heapBefore: number;
  heapSettled: number;
  /** The daemon's InboxWatcher alone (chokidar on the inbox folders), on the same inboxes, after the daemon stopped. */
  chokidar: WatchCost | undefined;
  /** Floor of a watcher: one plain fs.watch (inotify) per inbox. */
  bareWatch: WatchCost | undefined;
  /** Tasks the daemon moved to active/ before it was stopped (it starts working at once). */
  claimed: number;
}

export interface WatchCost {
  readyMs: number;
  cpuMs: number;
  rssGrowth: number;
  heapGrowth: number;
}

const STAT_CONCURRENCY = 64;
const SETTLE_MS = 2000;

export async function runScale(ctx: BenchContext): Promise<ScaleResults> {
  const { files, projects: projectCount } = ctx.opts;
  const projects = Array.from({ length: projectCount }, (_, i) => `p${String(i + 1).padStart(2, "0")}`);
  // No pool session at start (min 0): the daemon asks for one when it sees work, and is stopped
  // before its next pass could hand that session a task.
  const sb = await openSandbox(ctx, "bench-scale", projects, { min: 0, max: 1 });
  const inbox = (p: string): string => path.join(sb.queueRoot, p, "inbox");
  const perProject = Math.ceil(files / projectCount);

  const projectDirs = Object.fromEntries(projects.map((p) => [p, path.join(sb.dir, "work", p)]));
  const newQueue = (): TaskQueue => new TaskQueue({ root: sb.queueRoot, projects: projectDirs, clock: systemClock, log: silentLogger() });
  await newQueue().ensureLayout();

  ctx.say(`  writing ${files} task files across ${projectCount} projects`);
  let t0 = now();
  let written = 0;
  for (const p of projects) {
    const names: string[] = [];
    for (let j = 1; j <= perProject && written < files; j++, written++) names.push(`task-${String(j).padStart(4, "0")}.md`);
    await Promise.all(names.map((n, j) => writeFile(path.join(inbox(p), n), taskText(p, j + 1))));
  }
  const writeMs = now() - t0;

  ctx.say("  scans: bare readdir+lstat, TaskQueue cold and warm, StatusPublisher pass");
  const bareScan: number[] = [];
  for (let i = 0; i < 3; i++) {
    t0 = now();
    for (const p of projects) await bareReaddirLstat(inbox(p));
    bareScan.push(now() - t0);
  }
  const queue = newQueue();
  t0 = now();
  let tasksSeen = 0;
  for (const p of projects) tasksSeen += (await queue.scanInbox(p)).tasks.length;
  const coldScan = now() - t0;
  const warmScan: number[] = [];
  for (let i = 0; i < 3; i++) {
    t0 = now();
    for (const p of projects) await queue.scanInbox(p);
    warmScan.push(now() - t0);
  }
  const board = new TaskBoard({ root: sb.queueRoot, waitingShown: WAITING_SHOWN, finishedShown: FINISHED_SHOWN });
  const publisher = new StatusPublisher({ queue, projects, ledger: emptyLedger(), clock: systemClock, log: silentLogger(), board });
  t0 = now();
  await publisher.publish();
  const statusWrite = now() - t0;
  const statusPass: number[] = [];
  for (let i = 0; i < 3; i++) {
    t0 = now();
    await publisher.publish();
    statusPass.push(now() - t0);
  }
  ctx.say("  dashboard snapshot and view frame");
  const events = new EventLog({ dir: path.join(sb.dir, "bench-dashboard"), clock: systemClock });
  const dashboardBuild: number[] = [];
  let frame = "";
  let dashboardRows = 0;
  for (let i = 0; i < 5; i++) {
    // A fresh feed each time: the feed shares a snapshot for a second, and this times its build.
    const feed = dashboardFeed(queue, board, events, publisher, sb.queueRoot);
    t0 = now();
    const snap = await feed.snapshot();
    frame = viewFrame(snap);
    dashboardBuild.push(now() - t0);
    dashboardRows = snap.tasks.length;
    await feed.stop();
  }
  await events.close();
  // The daemon's first pass is recognised by the status.json files it writes: remove ours.
  for (const p of projects) await unlink(path.join(sb.queueRoot, p, "status.json"));

  ctx.say("  daemon start-up on that queue");
  forceGc();
  const rssBefore = process.memoryUsage.rss();
  const heapBefore = process.memoryUsage().heapUsed;
  const cpu0 = process.cpuUsage();
  t0 = now();
  const run = await startDaemon(ctx, sb, "scale", (c) => {
    Object.assign(c.pool.autonomous, { min: 0, max: 1 });
  });
  const statusFiles = projects.map((p) => path.join(sb.queueRoot, p, "status.json"));
  const passEnd = await waitFor("the daemon's first status pass", async () => {
    for (const f of statusFiles) if (!(await access(f).then(() => true, () => false))) return undefined;
    return now();
  }, 120_000, 25).catch(() => undefined);
  const cpu = process.cpuUsage(cpu0);
  forceGc();
  const rssAfterPass = process.memoryUsage.rss();
  await sleep(SETTLE_MS);
  forceGc();
  const rssSettled = process.memoryUsage.rss();
  const heapSettled = process.memoryUsage().heapUsed;
  await run.stop();
  let claimed = 0;
  for (const p of projects) claimed += (await readdir(path.join(sb.queueRoot, p, "active"))).filter((n) => n.endsWith(".md")).length;

  ctx.say("  the inbox watcher alone on the same inboxes");
  const chokidar = await measureInboxWatcher(sb.queueRoot, projects).catch(() => undefined);
  const bareWatch = await measureBareWatch(projects.map(inbox)).catch(() => undefined);

  return {
    files: written, projects: projectCount, writeMs, bareScan, coldScan, warmScan, statusWrite, statusPass, tasksSeen,
    dashboardBuild, dashboardFrameBytes: Buffer.byteLength(frame), dashboardRows,
    startMs: run.startMs, firstPassMs: passEnd === undefined ? undefined : passEnd - t0, firstPassCpuMs: (cpu.user + cpu.system) / 1000,
    rssBefore, rssAfterPass, rssSettled, heapBefore, heapSettled, chokidar, bareWatch, claimed,
  };
}

/** A task file like an operator's: most with frontmatter (some high or low priority), some bare. */
function taskText(project: string, j: number): string {
  const body = `Task ${j} of ${project}: summarise the change log of the last release in three bullet points.\n`;
  if (j % 5 === 4) return body;
  const priority = j % 10 === 0 ? "high" : j % 7 === 0 ? "low" : "normal";
  return `---\ntitle: Scale task ${j} of ${project}\npriority: ${priority}\n---\n${body}`;
}

async function bareReaddirLstat(dir: string): Promise<number> {
  const names = await readdir(dir);
  for (let i = 0; i < names.length; i += STAT_CONCURRENCY) {
    await Promise.all(names.slice(i, i + STAT_CONCURRENCY).map((n) => lstat(path.join(dir, n))));
  }
  return names.length;
}

/** Time, CPU and memory kept (after GC) of setting a watcher up; `setup` resolves when it is ready. */
async function watchCost(setup: () => Promise<() => Promise<void> | void>): Promise<WatchCost> {
  forceGc();
  const rss0 = process.memoryUsage.rss();
  const heap0 = process.memoryUsage().heapUsed;
  const cpu0 = process.cpuUsage();
  const t0 = now();
  const close = await setup();
  try {
    const readyMs = now() - t0;
    const cpu = process.cpuUsage(cpu0);
    forceGc();
    return { readyMs, cpuMs: (cpu.user + cpu.system) / 1000, rssGrowth: process.memoryUsage.rss() - rss0, heapGrowth: process.memoryUsage().heapUsed - heap0 };
  } finally {
    await close();
  }
}

function measureBareWatch(dirs: string[]): Promise<WatchCost> {
  return watchCost(async () => {
    const watchers = dirs.map((d) => fsWatch(d, () => undefined));
    return () => watchers.forEach((w) => w.close());
  });
}

/** The daemon's InboxWatcher, started alone: watch → ready includes its first rescan (offering each inbox to a no-op). */
function measureInboxWatcher(root: string, projects: string[]): Promise<WatchCost> {
  return watchCost(async () => {
    const w = new InboxWatcher({ root, projects, rescanIntervalMs: 3_600_000, clock: systemClock, log: silentLogger(), onWork: () => undefined });
    w.start();
    await w.ready();
    return () => w.stop();
  });
}

/** The daemon's dashboard feed over this queue, with no session, account or event to show. */
function dashboardFeed(queue: TaskQueue, board: TaskBoard, events: EventLog, publisher: StatusPublisher, root: string): DashboardFeed {
  return new DashboardFeed({
    clock: systemClock, log: silentLogger(), events, queueRoot: root,
    status: () => ({ active_account: "main", sessions: [], accounts: [], queue: publisher.countsByProject(), swaps: [] }),
    queue: () => queue, board: () => board, ledger: () => emptyLedger(), paused: () => null, hold: () => undefined, changed: () => undefined,
    delegation: () => null, capture: async () => undefined, secrets: () => [],
  });
}

function emptyLedger(): TaskLedger {
  return {
    records: () => [], get: () => undefined, put: () => undefined, remove: () => undefined,
    attempts: () => 0, setAttempts: () => undefined, flush: async () => undefined,
  };
}
