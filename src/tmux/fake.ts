import {
  assertSessionName, KEYS, TmuxError,
  type Key, type NewSessionOptions, type PaneInfo, type SessionInfo, type TmuxClient,
} from "./client.js";

/** What a fake pane runs: reacts to input by changing the screen. */
export interface FakeProgram {
  onText?(session: FakeSession, text: string): void;
  onKey?(session: FakeSession, key: Key): void;
  onPaste?(session: FakeSession, text: string): void;
  /** Called before each capture: lets a program move on one step per look at its screen. */
  onCapture?(session: FakeSession): void;
}

export interface FakeSession {
  name: string;
  cwd: string;
  env: Record<string, string>;
  command: readonly string[];
  created: number;
  /** Screen lines, top to bottom. */
  screen: string[];
  title: string;
  currentCommand: string;
  pid: number;
  program: FakeProgram;
}

export type FakeCall = { op: string; name?: string; text?: string; key?: string };

/** The default program: a terminal that echoes what it is given, Enter starting a new line. */
export const echoProgram: FakeProgram = {
  onText: (s, text) => appendToLastLine(s, text),
  onPaste: (s, text) => appendToLastLine(s, text),
  onKey: (s, key) => {
    if (key === "Enter") s.screen.push("");
  },
};

function appendToLastLine(s: FakeSession, text: string): void {
  const parts = text.split("\n");
  s.screen[s.screen.length - 1] = (s.screen[s.screen.length - 1] ?? "") + parts[0];
  s.screen.push(...parts.slice(1));
}

/**
 * In-memory tmux with the same contract as the CLI adapter, and a log of every call so tests can assert
 * exactly what the daemon did to which session.
 */
export class FakeTmuxClient implements TmuxClient {
  readonly sessions = new Map<string, FakeSession>();
  readonly calls: FakeCall[] = [];
  /** Chooses the program for a new session (default: echo). */
  programFor: (options: NewSessionOptions) => FakeProgram = () => echoProgram;
  /** tmux's global environment, as a server started with these variables would hold it. */
  readonly globalEnv: Record<string, string> = {};
  /** Makes the next calls of an operation fail, to test error paths. */
  failNext = new Map<string, number>();
  private nextPid = 1000;

  constructor(private readonly now: () => number = () => Date.now()) {}

  private record(call: FakeCall): void {
    this.calls.push(call);
    const left = this.failNext.get(call.op) ?? 0;
    if (left > 0) {
      this.failNext.set(call.op, left - 1);
      throw new TmuxError("TMUX_FAILED", `fake tmux: ${call.op} failed on request`, { argv: [call.op, call.name ?? ""], exitCode: 1, stderr: "injected" });
    }
  }

  private get(name: string, op: string): FakeSession {
    const s = this.sessions.get(name);
    if (!s) throw new TmuxError("TMUX_NO_SESSION", `can't find session: ${name}`, { argv: [op, name], exitCode: 1, stderr: `can't find session: ${name}` });
    return s;
  }

  /** Adds a session as if somebody else had created it (a "foreign" session). */
  addForeign(name: string, screen: string[] = ["$ "]): FakeSession {
    const s = this.makeSession({ name, cwd: "/" });
    s.screen = screen;
    this.sessions.set(name, s);
    return s;
  }

  private makeSession(o: NewSessionOptions): FakeSession {
    return {
      name: o.name, cwd: o.cwd, env: { ...(o.env ?? {}) }, command: o.command ?? [],
      created: Math.floor(this.now() / 1000), screen: [""], title: "fake", currentCommand: o.command?.[0] ?? "bash",
      pid: this.nextPid++, program: this.programFor(o),
    };
  }

  async hasSession(name: string): Promise<boolean> {
    assertSessionName(name);
    this.record({ op: "has-session", name });
    return this.sessions.has(name);
  }

  async newSession(o: NewSessionOptions): Promise<void> {
    assertSessionName(o.name);
    this.record({ op: "new-session", name: o.name });
    if (this.sessions.has(o.name)) {
      throw new TmuxError("TMUX_FAILED", `duplicate session: ${o.name}`, { argv: ["new-session", o.name], exitCode: 1, stderr: `duplicate session: ${o.name}` });
    }
    this.sessions.set(o.name, this.makeSession(o));
  }

  async killSession(name: string): Promise<void> {
    assertSessionName(name);
    this.record({ op: "kill-session", name });
    this.sessions.delete(name);
  }

  async listSessions(): Promise<SessionInfo[]> {
    this.record({ op: "list-sessions" });
    return [...this.sessions.values()].map((s) => ({ name: s.name, created: s.created, attached: false }));
  }

  async sendText(name: string, text: string): Promise<void> {
    assertSessionName(name);
    this.record({ op: "send-text", name, text });
    if (text.length === 0) return;
    const s = this.get(name, "send-keys");
    s.program.onText?.(s, text);
  }

  async sendKey(name: string, key: Key): Promise<void> {
    assertSessionName(name);
    if (!(KEYS as readonly string[]).includes(key)) throw new TmuxError("TMUX_BAD_NAME", `key not allowed: ${JSON.stringify(key)}`, { argv: [] });
    this.record({ op: "send-key", name, key });
    const s = this.get(name, "send-keys");
    s.program.onKey?.(s, key);
  }

  async paste(name: string, text: string): Promise<void> {
    assertSessionName(name);
    this.record({ op: "paste", name, text });
    const s = this.get(name, "paste-buffer");
    s.program.onPaste?.(s, text);
  }

  async capturePane(name: string): Promise<string> {
    assertSessionName(name);
    this.record({ op: "capture-pane", name });
    const s = this.get(name, "capture-pane");
    s.program.onCapture?.(s);
    return s.screen.join("\n") + "\n";
  }

  async paneInfo(name: string): Promise<PaneInfo> {
    assertSessionName(name);
    this.record({ op: "pane-info", name });
    const s = this.get(name, "display-message");
    return { title: s.title, currentCommand: s.currentCommand, pid: s.pid, dead: false, currentPath: s.cwd };
  }

  async unsetGlobalEnv(names: readonly string[]): Promise<string[]> {
    this.record({ op: "unset-global-env" });
    const removed = names.filter((n) => n in this.globalEnv);
    for (const n of removed) delete this.globalEnv[n];
    return removed;
  }

  /** The names of sessions the log shows an operation on. */
  touched(op: string): string[] {
    return this.calls.filter((c) => c.op === op && c.name !== undefined).map((c) => c.name!);
  }
}
