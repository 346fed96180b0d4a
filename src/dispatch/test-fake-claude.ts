import type { HookEvent } from "../claude/hooks.js";
import type { FakeProgram, FakeSession } from "../tmux/fake.js";

/**
 * A stand-in for Claude Code inside FakeTmuxClient, for fast tests of the work loop: a shell that
 * starts "claude" when a launch line with --session-id/--resume is entered, an input box that takes
 * pastes, a busy spinner for a few captures, a reply, hooks. Screens are shaped like the real ones
 * (CLAUDE-CODE.md §2) so the real classifier reads them.
 */
export type FakeBehaviour =
  | { kind: "reply"; text?: string; busyCaptures?: number }
  | { kind: "hang" }
  | { kind: "die" }
  | { kind: "limit"; banner?: string };

export interface FakeClaudeOptions {
  /** Hook delivery (the daemon's intake). */
  emit: (event: HookEvent) => void;
  /** What to do with a submitted prompt; default a reply after 2 busy captures. */
  behaviour?: (prompt: string) => FakeBehaviour;
  /** Swallow the first N Enters after a paste, as Claude Code may with an Enter that follows a paste too closely. */
  swallowEnters?: number;
  /** Send Stop hooks (false = only the screen tells, to test the idle fallback). */
  hooks?: boolean;
  /** A loaded machine: what is typed or pasted is read only this many screen captures later. */
  inputLag?: number;
}

const PROMPT = "ops@host:~$ ";
const RULE = "─".repeat(100);
const SPINNER = "✶ Crystallizing… (3s · ↓ 12 tokens · esc to interrupt)";

interface ClaudeState {
  mode: "shell" | "claude";
  sessionId: string;
  history: string[];
  input: string;
  pasted: boolean;
  busy: { left: number; behaviour: FakeBehaviour; prompt: string } | null;
  swallow: number;
  shellLine: string;
  /** A Ctrl-C on an empty box armed the exit: the next Ctrl-C ends Claude Code. */
  exitArmed: boolean;
  /** Captures of this session so far, and input not read yet (see `inputLag`). */
  looks: number;
  unread: { at: number; apply: () => void }[];
}

export class FakeClaude {
  readonly prompts: { session: string; sessionId: string; prompt: string }[] = [];
  readonly launches: { session: string; line: string }[] = [];
  /** Per session object: a session killed and created again under the same name starts at a bare shell. */
  private readonly states = new WeakMap<FakeSession, ClaudeState>();

  constructor(private readonly o: FakeClaudeOptions) {}

  /** The FakeProgram to install: `tmux.programFor = () => fake.program`. */
  readonly program: FakeProgram = {
    onText: (s, text) => this.input(s, () => {
      const st = this.state(s);
      if (st.mode === "shell") st.shellLine += text;
      else st.input += text;
    }),
    onPaste: (s, text) => this.input(s, () => {
      const st = this.state(s);
      if (st.mode === "shell") st.shellLine += text;
      else {
        st.input += text;
        st.pasted = text.includes("\n");
        st.swallow = this.o.swallowEnters ?? 0;
      }
    }),
    onKey: (s, key) => this.input(s, () => this.key(s, key)),
    onCapture: (s) => {
      const st = this.state(s);
      st.looks++;
      while (st.unread[0] && st.unread[0].at <= st.looks) st.unread.shift()!.apply();
      this.render(s);
      this.tick(s);
    },
  };

  /** Input is read at once, or `inputLag` looks later and in order, like bytes waiting in a pty. */
  private input(s: FakeSession, apply: () => void): void {
    const st = this.state(s);
    if (this.o.inputLag) st.unread.push({ at: st.looks + this.o.inputLag, apply });
    else apply();
    this.render(s);
  }

  /** Makes a session's agent vanish (crash): its screen becomes a shell prompt. */
  kill(session: FakeSession): void {
    const st = this.state(session);
    st.mode = "shell";
    st.busy = null;
    st.history.push("Segmentation fault", PROMPT);
    this.render(session);
  }

  /** Finishes a hanging turn now. */
  finish(session: FakeSession, text = "finished"): void {
    const st = this.state(session);
    if (st.busy) st.busy = { ...st.busy, left: 0, behaviour: { kind: "reply", text } };
    this.tick(session);
  }

  private state(s: FakeSession): ClaudeState {
    let st = this.states.get(s);
    if (!st) {
      st = { mode: "shell", sessionId: "", history: [PROMPT], input: "", pasted: false, busy: null, swallow: 0, shellLine: "", exitArmed: false, looks: 0, unread: [] };
      this.states.set(s, st);
    }
    return st;
  }

  private key(s: FakeSession, key: string): void {
    const st = this.state(s);
    const armed = st.exitArmed;
    st.exitArmed = false;
    if (key === "C-u") {
      if (st.mode === "shell") st.shellLine = "";
      else st.input = "";
    } else if (key === "Escape") {
      if (st.mode === "claude" && !st.busy) st.input = "";
    } else if (key === "C-c" && st.mode === "claude") {
      // As the real CLI: interrupt a turn, else empty the box, else arm the exit; a second press ends it.
      if (st.busy) {
        st.busy = null;
        st.history.push("  ⎿  Interrupted · What should Claude do instead?");
      } else if (st.input !== "") {
        st.input = "";
        st.pasted = false;
      } else if (armed) {
        this.exitClaude(s, st);
      } else {
        st.exitArmed = true;
      }
    } else if (key === "C-c") {
      st.shellLine = "";
    } else if (key === "Enter") {
      if (st.mode === "shell") this.shellEnter(s, st);
      else this.claudeEnter(s, st);
    }
    this.render(s);
  }

  private shellEnter(s: FakeSession, st: ClaudeState): void {
    const line = st.shellLine;
    st.shellLine = "";
    st.history[st.history.length - 1] = `${PROMPT}${line}`;
    const id = /--(?:session-id|resume) ([0-9a-f-]{36})/.exec(line)?.[1];
    if (id) {
      this.launches.push({ session: s.name, line });
      st.mode = "claude";
      st.sessionId = id;
      st.history = ["╭─── Claude Code v2.1.197 ───╮", "│ Welcome back! │", "╰──────────────╯", ""];
      if (this.o.hooks !== false) this.o.emit({ kind: "SessionStart", sessionId: id, source: line.includes("--resume") ? "resume" : "startup" });
    } else {
      st.history.push(PROMPT);
    }
  }

  private claudeEnter(s: FakeSession, st: ClaudeState): void {
    if (st.busy) return;
    if (st.swallow > 0) {
      st.swallow--;
      return;
    }
    const prompt = st.input;
    st.input = "";
    st.pasted = false;
    if (prompt.trim() === "") return;
    if (prompt.trim() === "/exit") {
      this.exitClaude(s, st);
      return;
    }
    this.prompts.push({ session: s.name, sessionId: st.sessionId, prompt });
    if (this.o.hooks !== false) this.o.emit({ kind: "UserPromptSubmit", sessionId: st.sessionId, prompt });
    st.history.push(`❯ ${prompt.split("\n")[0] ?? ""}`);
    const behaviour = this.o.behaviour?.(prompt) ?? { kind: "reply" };
    st.busy = { left: behaviour.kind === "reply" ? (behaviour.busyCaptures ?? 2) : 1, behaviour, prompt };
  }

  private exitClaude(s: FakeSession, st: ClaudeState): void {
    st.mode = "shell";
    st.busy = null;
    st.history = [`Resume this session with:`, `claude --resume ${st.sessionId}`, PROMPT];
    if (this.o.hooks !== false) this.o.emit({ kind: "SessionEnd", sessionId: st.sessionId, reason: "prompt_input_exit" });
  }

  private tick(s: FakeSession): void {
    const st = this.state(s);
    if (st.mode !== "claude" || !st.busy) return;
    const b = st.busy.behaviour;
    if (b.kind === "hang") return;
    if (--st.busy.left > 0) return;
    const prompt = st.busy.prompt;
    st.busy = null;
    if (b.kind === "die") {
      this.kill(s);
      return;
    }
    if (b.kind === "limit") {
      const banner = b.banner ?? "You've hit your session limit · resets 3pm (UTC)";
      st.history.push(`  ⎿  ${banner}`, "     /upgrade to increase your usage limit.", "");
      if (this.o.hooks !== false) this.o.emit({ kind: "StopFailure", sessionId: st.sessionId, error: "rate_limit", lastAssistantMessage: banner });
      this.render(s);
      return;
    }
    const text = b.text ?? `Done: ${prompt.split("\n")[0] ?? ""}`;
    st.history.push(`● ${text}`, "", "✻ Crunched for 3s");
    if (this.o.hooks !== false) this.o.emit({ kind: "Stop", sessionId: st.sessionId, lastAssistantMessage: text, stopHookActive: false });
    this.render(s);
  }

  private render(s: FakeSession): void {
    const st = this.state(s);
    if (st.mode === "shell") {
      s.screen = [...st.history.slice(0, -1), `${st.history.at(-1) ?? PROMPT}${st.shellLine}`];
      s.currentCommand = "bash";
      return;
    }
    s.currentCommand = "claude";
    const lines = st.input.split("\n");
    const input = st.pasted && lines.length > 2 ? [`❯\u00a0[Pasted text #1 +${lines.length - 1} lines]`] : lines.map((l, i) => (i === 0 ? `❯\u00a0${l}` : `  ${l}`));
    s.screen = [
      ...st.history,
      ...(st.busy ? [SPINNER, ""] : []),
      RULE,
      ...input,
      RULE,
      st.busy ? "  esc to interrupt" : st.exitArmed ? "  Press Ctrl-C again to exit" : "  ? for shortcuts",
    ];
  }
}
