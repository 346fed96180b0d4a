// Steady-state cost (contract §10): the daemon watching N idle pool sessions (each holds a shell, no
// agent), measured over a window of wall time once start-up is over, next to the same process with
// a daemon that holds no session, and with no daemon at all.
import { measureWindow, openSandbox, startDaemon, tmuxServerPid, type BenchContext, type WindowResult } from "./harness.js";
import { sleep } from "./support.js";

export interface SteadyRow {
  sessions: number;
  /** Daemon.start() → running, creating the sessions (undefined: no daemon). */
  startMs: number | undefined;
  window: WindowResult;
}

export interface SteadyResults {
  noDaemon: SteadyRow;
  rows: SteadyRow[];
}

/** Seconds after start() before the window opens: the first ticks of every loop, the shells starting. */
const SETTLE_S = 3;

export async function runSteady(ctx: BenchContext, sizes: readonly number[] = [0, 20, 100]): Promise<SteadyResults> {
  const sb = await openSandbox(ctx, "bench-idle", ["idle"], { min: 0, max: 1 });
  const refSeconds = Math.max(5, Math.round(ctx.opts.window / 3));
  ctx.say(`  reference: this process with no daemon, ${refSeconds} s (after ${SETTLE_S} s of settling)`);
  await sleep(SETTLE_S * 1000);
  const noDaemon: SteadyRow = { sessions: 0, startMs: undefined, window: await measureWindow(refSeconds) };
  const rows: SteadyRow[] = [];
  for (const n of sizes) {
    const run = await startDaemon(ctx, sb, `steady-${n}`, (c) => {
      // A prefix per size: each size starts from an empty server and creates its own sessions.
      Object.assign(c.pool.autonomous, { min: n, max: Math.max(1, n), prefix: `s${n}-` });
    });
    ctx.say(`  ${n} idle sessions: started in ${(run.startMs / 1000).toFixed(2)} s; settling ${SETTLE_S} s, then ${ctx.opts.window} s window`);
    await sleep(SETTLE_S * 1000);
    const serverPid = n > 0 ? await tmuxServerPid(sb) : undefined;
    const window = await measureWindow(ctx.opts.window, run.tmux, serverPid);
    rows.push({ sessions: n, startMs: run.startMs, window });
    await run.stop();
    // Our own private server, by its socket: the next size starts from nothing.
    await sb.tmux.killServer();
  }
  return { noDaemon, rows };
}
