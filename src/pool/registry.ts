export type SessionKind = "pool" | "dedicated";
/** idle: alive with no task; busy: running a task; missing: not on the server; error: could not be created. */
export type SessionState = "idle" | "busy" | "missing" | "error";

export interface SessionRecord {
  name: string;
  kind: SessionKind;
  state: SessionState;
  /** When the session entered its state (epoch ms). */
  since: number;
  cwd: string;
  task?: string;
  account?: string;
  error?: string;
}

/**
 * What the daemon knows about the sessions it is responsible for: the pool sessions it holds and the
 * dedicated sessions named in config. Nothing else on the tmux server is ever recorded here.
 */
export class SessionRegistry {
  private readonly records = new Map<string, SessionRecord>();

  constructor(private readonly now: () => number) {}

  get(name: string): SessionRecord | undefined {
    return this.records.get(name);
  }

  list(kind?: SessionKind): SessionRecord[] {
    return [...this.records.values()].filter((r) => kind === undefined || r.kind === kind).sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true }));
  }

  /** Sets a session's state (and `since` when the state changes). */
  set(name: string, kind: SessionKind, cwd: string, state: SessionState, extra: { error?: string } = {}): SessionRecord {
    const prev = this.records.get(name);
    const record: SessionRecord = prev && prev.state === state
      ? { ...prev, cwd, ...extra }
      : { ...(prev ?? {}), name, kind, cwd, state, since: this.now(), ...extra };
    if (state !== "error") delete record.error;
    // Only a busy session has a task: one killed and recreated (a swap, a crash) comes back without it.
    if (state !== "busy") {
      delete record.task;
      delete record.account;
    }
    this.records.set(name, record);
    return record;
  }

  /** A session takes a task: busy, with the task and the account it runs under. */
  assign(name: string, task: string, account: string): void {
    const r = this.records.get(name);
    if (!r) return;
    this.records.set(name, { ...r, state: "busy", since: r.state === "busy" ? r.since : this.now(), task, account });
  }

  /** The session's task is over: idle again (if it is still alive). */
  release(name: string): void {
    const r = this.records.get(name);
    if (!r) return;
    const { task: _t, account: _a, ...rest } = r;
    this.records.set(name, { ...rest, state: r.state === "busy" ? "idle" : r.state, since: this.now() });
  }

  countByState(): Record<SessionState, number> {
    const out: Record<SessionState, number> = { idle: 0, busy: 0, missing: 0, error: 0 };
    for (const r of this.records.values()) out[r.state]++;
    return out;
  }
}
