/** Shells a pane may show as its foreground command when nothing else (no agent) holds the terminal. */
const SHELLS = new Set(["bash", "sh", "dash", "zsh", "fish", "ksh", "tcsh", "csh", "ash", "mksh", "busybox"]);

/** Whether a pane's foreground command is a shell (no agent, nor anything else, holds the terminal). */
export const isShell = (command: string): boolean => SHELLS.has(command);
