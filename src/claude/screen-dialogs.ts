/**
 * Screens that are not the input box: dialogs that block an unattended session, the limit menu, and the signs that
 * Claude Code has exited to the shell.
 */
import type { LimitMenu } from "./screen.js";

export type DialogDetail =
  | "limit-menu"
  | "theme"
  | "security-notes"
  | "trust-folder"
  | "bypass-permissions"
  | "permission-prompt"
  | "api-key"
  | "rewind"
  | "other";

export interface Dialog {
  detail: DialogDetail;
  menu: LimitMenu | null;
}

const OPTION = /^\s*(?:❯\s*)?(\d{1,2})\.\s+(\S.*)$/;
// What makes "What do you want to do?" the limit menu rather than some other question.
const LIMIT_OPTION = /wait for (?:the )?limit|limit to reset|upgrade your plan|extra usage|usage credits|add funds/i;

const DIALOGS: { detail: DialogDetail; pattern: RegExp }[] = [
  // Before the permission prompt: it too asks "Do you want to …?".
  { detail: "api-key", pattern: /Do you want to use this API key\?/i },
  { detail: "bypass-permissions", pattern: /Bypass Permissions mode|Yes, I accept/i },
  {
    detail: "trust-folder",
    pattern: /Yes, I trust this folder|Do you trust the files in this folder|Quick safety check/i,
  },
  { detail: "theme", pattern: /Choose the text style/i },
  { detail: "security-notes", pattern: /Security notes:|Press Enter to continue/i },
  { detail: "permission-prompt", pattern: /^\s*Do you want to [^\n?]{1,160}\?/m },
  { detail: "rewind", pattern: /^\s*Rewind\s*$/m },
];

/** Which dialog the block under the last rule shows, or null when it is none we know. */
export function detectDialog(block: string[]): Dialog | null {
  // Matched on the lines and on the lines run together, so a prompt wrapped at a narrow width still reads.
  const text = `${block.join("\n")}\n${block.map((l) => l.trim()).join(" ")}`;
  if (/What do you want to do\?/i.test(text)) {
    const menu = parseLimitMenu(block);
    if (menu !== null) return { detail: "limit-menu", menu };
  }
  for (const { detail, pattern } of DIALOGS) if (pattern.test(text)) return { detail, menu: null };
  const options = block.filter((l) => OPTION.test(l)).length;
  if (options >= 2 && /Enter to confirm|Esc to cancel/i.test(text)) return { detail: "other", menu: null };
  return null;
}

/**
 * The limit menu's options with their numbers as shown: the order differs between versions, so the daemon must
 * press the number of "Stop and wait for limit to reset", never a bare Enter.
 */
export function parseLimitMenu(block: string[]): LimitMenu | null {
  const title = block.findIndex((l) => /What do you want to do\?/i.test(l));
  if (title < 0) return null;
  const options: { number: number; label: string }[] = [];
  for (const line of block.slice(title + 1)) {
    if (/Enter to confirm|Esc to cancel/i.test(line)) break;
    const match = OPTION.exec(line);
    if (match !== null) options.push({ number: Number(match[1]), label: (match[2] ?? "").slice(0, 120) });
    else if (options.length > 0 && /^\s{4,}\S/.test(line)) {
      // A label wrapped at a narrow width continues, indented, on the next line.
      const last = options[options.length - 1];
      if (last !== undefined) last.label = `${last.label} ${line.trim()}`.slice(0, 120);
    }
  }
  if (!options.some((o) => LIMIT_OPTION.test(o.label))) return null;
  const wait = options.find((o) => /^Stop and wait\b/i.test(o.label));
  return { options, waitOption: wait?.number ?? null };
}

export type ExitDetail =
  "root-refused" | "connectivity-check-failed" | "resume-hint" | "pane-dead" | "exit-marker" | "shell-prompt";

// A prompt needs a recognisable prefix before a command may follow it, so a "# heading" line is not a shell.
const SHELL_PROMPT = [
  /^[$#%]$/,
  /^(?:\([^()\s]{1,40}\) )?(?:[\w.-]+@[\w.-]+(?::\S*)?|\[[^\]\n]{1,80}\]|(?:ba|z|k|da|fi)?sh-\d[\d.]*|PS [^>\n]{1,80})\s?[$#%>](?:\s.{0,200})?$/,
  /^➜ {1,2}\S/,
];

/**
 * Whether the lines below the input box (or, with no box, at the bottom) say Claude Code is gone: its exit message,
 * the as-root refusal, a dead pane, or a shell prompt as the last line. Null when Claude is still there.
 */
export function detectExit(tail: string[], withoutBox: boolean): ExitDetail | null {
  const found = new Set<ExitDetail>();
  // Run together, so a message wrapped at a narrow width still reads.
  const flat = tail.map((l) => l.trim()).join(" ");
  if (/cannot be used with root\/sudo/i.test(flat)) found.add("root-refused");
  for (const line of tail) {
    // First-run connectivity check: the CLI prints this and exits (only meaningful with no box on screen).
    if (withoutBox && /^\s*Unable to connect to Anthropic services/i.test(line)) found.add("connectivity-check-failed");
    if (/^\s*Resume this session with:?$/i.test(line) || /^\s*claude (?:--resume|-r) [0-9a-f]{8}-/i.test(line)) {
      found.add("resume-hint");
    }
    if (/^Pane is dead\b/.test(line)) found.add("pane-dead");
    // Printed by a launch line of the form `claude …; echo CLAUDE_EXITED rc=$?` (the fixture captures use it).
    if (/^CLAUDE_EXITED rc=\d+$/.test(line)) found.add("exit-marker");
  }
  const last = [...tail].reverse().find((l) => l.trim() !== "");
  if (last !== undefined && SHELL_PROMPT.some((p) => p.test(last.trim()))) found.add("shell-prompt");
  const order: ExitDetail[] = [
    "root-refused",
    "connectivity-check-failed",
    "resume-hint",
    "pane-dead",
    "exit-marker",
    "shell-prompt",
  ];
  return order.find((d) => found.has(d)) ?? null;
}

/** The option each start-up dialog is answered with; Enter alone where the dialog has no choice. */
const WANTED_OPTION: Partial<Record<DialogDetail, RegExp | "Enter">> = {
  theme: "Enter",
  "security-notes": "Enter",
  "trust-folder": /Yes, I trust/i,
  "bypass-permissions": /Yes, I accept/i,
  "api-key": /^Yes\b/i,
};
const CHOICE = /^\s*(❯)?\s*(?:(\d{1,2})\.\s+)?(\S.*?)\s*$/;

/**
 * The key that moves a start-up dialog towards its wanted option: the option's number where options are numbered
 * (2.1.197), Enter once the cursor is on it, else one step of the cursor towards it (2.1.332 lists "No, exit" first
 * and numbers nothing, so a bare "1" would do nothing). Undefined for a dialog the daemon does not answer.
 */
export function dialogKey(detail: DialogDetail, screen: string): "Enter" | "Up" | "Down" | `${number}` | undefined {
  const wanted = WANTED_OPTION[detail];
  if (wanted === undefined || wanted === "Enter") return wanted;
  const lines = screen.split("\n").map((l) => CHOICE.exec(l)).filter((m): m is RegExpExecArray => m !== null);
  const target = lines.findIndex((m) => wanted.test(m[3] ?? ""));
  if (target < 0) return undefined;
  const number = lines[target]![2];
  if (number !== undefined) return number as `${number}`;
  if (lines[target]![1] !== undefined) return "Enter";
  const cursor = lines.findIndex((m) => m[1] !== undefined);
  if (cursor < 0) return undefined;
  return cursor < target ? "Down" : "Up";
}
