/** POSIX single-quote quoting: the result is one literal word for /bin/sh, whatever it contains. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Quotes each word and joins them: a command line the shell splits back into exactly `words`. */
export function shellJoin(words: readonly string[]): string {
  return words.map(shellQuote).join(" ");
}
