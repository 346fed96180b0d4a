import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";
import type { SessionRegistry } from "../pool/registry.js";

export interface MetricsSources {
  sessions: SessionRegistry;
  /** Loops by name with the time of their last tick (epoch ms) or undefined. */
  loops: () => Record<string, number | undefined>;
}

/** The daemon's Prometheus registry: process metrics plus the daemon's own gauges, read on scrape. */
export function createMetrics(src: MetricsSources): { registry: Registry; hookEvents: Counter } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "claude_failover_" });
  new Gauge({
    name: "claude_failover_sessions",
    help: "Sessions the daemon is responsible for, by kind and state",
    labelNames: ["kind", "state"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const kind of ["pool", "dedicated"] as const) {
        for (const state of ["idle", "busy", "missing", "error"] as const) this.set({ kind, state }, 0);
      }
      for (const r of src.sessions.list()) this.inc({ kind: r.kind, state: r.state });
    },
  });
  new Gauge({
    name: "claude_failover_loop_last_tick_seconds",
    help: "Unix time of each loop's last completed tick",
    labelNames: ["loop"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [loop, at] of Object.entries(src.loops())) if (at !== undefined) this.set({ loop }, at / 1000);
    },
  });
  const hookEvents = new Counter({
    name: "claude_failover_hook_events_total",
    help: "Hook deliveries received, by event",
    labelNames: ["event"] as const,
    registers: [registry],
  });
  return { registry, hookEvents };
}
