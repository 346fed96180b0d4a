/**
 * Parses the reset time Claude Code prints with a usage limit ("resets 3pm", "resets Dec 2, 7pm (Europe/Moscow)",
 * "Your limit will reset at 1pm (Etc/GMT+5)", "Claude AI usage limit reached|1749924000") into epoch milliseconds.
 */

export interface ResetTimeOptions {
  /** Epoch ms the "next occurrence" is counted from. */
  now: number;
  /** IANA zone for a time printed without ` (Zone)`; default: this process's zone (the CLI formats in its own). */
  hostZone?: string;
}

const MINUTE = 60_000;
const DAY = 86_400_000;
/** A time of day this far behind `now` is the reset just passed, not the next day's. */
const JUST_PAST = 15 * MINUTE;
// Date's own limit; beyond it arithmetic yields NaN and Intl throws.
const MAX_EPOCH = 8.64e15;
// A banner is one line; nothing longer than this is worth scanning.
const MAX_TEXT = 2_000;

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

// 1.0.x raw form: the reset as Unix seconds after a pipe.
const EPOCH_FORM = /limit reached\|(\d{9,11})(?!\d)/i;
const RESET_WORD = /\breset(?:s|ting)?(?:\s+(?:at|on))?\s+/gi;
// "[Mon D[, YYYY][, | at ]]h[:mm]am" — en-US as Date#toLocaleString prints it, with the CLI's lower-case am/pm;
// \s also covers the narrow no-break space newer ICU puts before AM/PM.
const DATE_TIME =
  /(?:\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+(\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(\d{4}))?(?:\s*,\s*|\s+at\s+|\s+))?\b(\d{1,2})(?::(\d{2}))?\s*([ap])\.?m\b\.?/i;
const ZONE_SUFFIX = /^\s*\(([^()\s]{1,64})\)/;

/**
 * The first instant the reset can really have come, from a reset parsed out of `text` (parseResetTime): a time
 * printed to the minute ("resets 8:09pm") is the start of a minute the real reset may fall anywhere in, so it is
 * taken as the end of that minute; the raw epoch form is exact.
 */
export function resetDeadline(text: string, parsed: number): { at: number; exact: boolean } {
  const exact = typeof text === "string" && EPOCH_FORM.test(text.length > MAX_TEXT ? text.slice(0, MAX_TEXT) : text);
  return { at: exact ? parsed : parsed + MINUTE, exact };
}

interface Wall {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
}

/**
 * The reset instant in epoch ms, or null when the text holds no reset time, names an unknown zone, or is invalid.
 * Time-only and year-less values resolve to the next occurrence at or after `now` in the zone (compared at the
 * minute the CLI prints); a value with a year is returned as is, even if past. Never throws.
 */
export function parseResetTime(text: string, options: ResetTimeOptions): number | null {
  const now = options.now;
  if (typeof text !== "string" || !Number.isFinite(now) || Math.abs(now) > MAX_EPOCH - 400 * DAY) return null;
  const head = text.length > MAX_TEXT ? text.slice(0, MAX_TEXT) : text;

  const epoch = EPOCH_FORM.exec(head);
  if (epoch?.[1] !== undefined) return Number(epoch[1]) * 1000;

  const found = findDateTime(head);
  if (found === null) return null;
  const { match, rest } = found;

  const zoneName = ZONE_SUFFIX.exec(rest)?.[1] ?? options.hostZone ?? processZone();
  const zone = zoneFormatter(zoneName);
  if (zone === null) return null;

  const hour12 = Number(match[4]);
  const minute = match[5] === undefined ? 0 : Number(match[5]);
  if (hour12 < 1 || hour12 > 12 || minute > 59) return null;
  const hour = (hour12 % 12) + ((match[6] ?? "").toLowerCase() === "p" ? 12 : 0);

  const monthWord = match[1];
  if (monthWord === undefined) return nextTimeOfDay(zone, now, hour, minute);

  const month = MONTHS.indexOf(monthWord.toLowerCase()) + 1;
  const day = Number(match[2]);
  if (match[3] !== undefined) {
    const year = Number(match[3]);
    if (!isValidDate(year, month, day)) return null;
    return wallToEpoch(zone, { year, month, day, hour, minute });
  }
  const today = wallAt(zone, now);
  if (today === null) return null;
  // Feb 29 can be eight years away across a century that skips its leap year (2096 → 2104).
  for (let year = today.year; year <= today.year + 8; year++) {
    if (!isValidDate(year, month, day)) continue;
    const at = wallToEpoch(zone, { year, month, day, hour, minute });
    if (at !== null && at > now - MINUTE) return at;
  }
  return null;
}

/** The date-time after the last "reset(s) [at]" when there is one (the banner's own), otherwise the first anywhere. */
function findDateTime(text: string): { match: RegExpExecArray; rest: string } | null {
  let afterWord = -1;
  for (const word of text.matchAll(RESET_WORD)) afterWord = (word.index ?? 0) + word[0].length;
  if (afterWord >= 0) {
    const tail = text.slice(afterWord);
    const match = DATE_TIME.exec(tail);
    if (match !== null && match.index === 0) return { match, rest: tail.slice(match[0].length) };
  }
  const match = DATE_TIME.exec(text);
  if (match === null) return null;
  return { match, rest: text.slice(match.index + match[0].length) };
}

function nextTimeOfDay(zone: Intl.DateTimeFormat, now: number, hour: number, minute: number): number | null {
  const today = wallAt(zone, now);
  if (today === null) return null;
  for (let offset = 0; offset <= 2; offset++) {
    const date = new Date(Date.UTC(today.year, today.month - 1, today.day + offset));
    const at = wallToEpoch(zone, {
      year: date.getUTCFullYear(),
      month: date.getUTCMonth() + 1,
      day: date.getUTCDate(),
      hour,
      minute,
    });
    // A reset shown for a minute just past is that one, not tomorrow's: the screen lags, and a resume can meet
    // the wall again with the old banner still up. The caller finds it past.
    if (at !== null && at > now - JUST_PAST) return at;
  }
  return null;
}

function isValidDate(year: number, month: number, day: number): boolean {
  if (day < 1 || day > 31) return false;
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/**
 * Local wall time in `zone` → epoch ms, with Temporal's "compatible" rule: in a DST overlap the earlier instant,
 * in a DST gap the wall time shifted forward by the gap (02:30 on a spring-forward night → 03:30).
 */
function wallToEpoch(zone: Intl.DateTimeFormat, wall: Wall): number | null {
  const asUtc = Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute);
  if (!Number.isFinite(asUtc)) return null;
  const before = offsetAt(zone, asUtc - DAY);
  const after = offsetAt(zone, asUtc + DAY);
  if (before === null || after === null) return null;
  const candidates = [asUtc - before, asUtc - after].filter((at) => sameWall(wallAt(zone, at), wall));
  if (candidates.length > 0) return Math.min(...candidates);
  // In a gap no instant shows this wall time; reading it with the pre-transition offset lands after the gap.
  return asUtc - before;
}

function sameWall(a: Wall | null, b: Wall): boolean {
  return (
    a !== null &&
    a.year === b.year &&
    a.month === b.month &&
    a.day === b.day &&
    a.hour === b.hour &&
    a.minute === b.minute
  );
}

/** The zone's offset from UTC at `at`, in ms (positive east of Greenwich). */
function offsetAt(zone: Intl.DateTimeFormat, at: number): number | null {
  const wall = wallAt(zone, at);
  if (wall === null) return null;
  const asUtc = Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute);
  return asUtc - Math.floor(at / MINUTE) * MINUTE;
}

function wallAt(zone: Intl.DateTimeFormat, at: number): Wall | null {
  if (!Number.isFinite(at) || Math.abs(at) > MAX_EPOCH) return null;
  const wall: Wall = { year: NaN, month: NaN, day: NaN, hour: NaN, minute: NaN };
  for (const part of zone.formatToParts(at)) {
    if (part.type === "year") wall.year = Number(part.value);
    else if (part.type === "month") wall.month = Number(part.value);
    else if (part.type === "day") wall.day = Number(part.value);
    else if (part.type === "hour") wall.hour = Number(part.value) % 24;
    else if (part.type === "minute") wall.minute = Number(part.value);
  }
  return Object.values(wall).every(Number.isFinite) ? wall : null;
}

const formatters = new Map<string, Intl.DateTimeFormat | null>();
// Bounds the cache when zone names come from untrusted screen text.
const MAX_CACHED_ZONES = 64;

function zoneFormatter(zone: string): Intl.DateTimeFormat | null {
  const cached = formatters.get(zone);
  if (cached !== undefined) return cached;
  let formatter: Intl.DateTimeFormat | null;
  try {
    formatter = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
    });
  } catch {
    // An unknown zone is a RangeError: no reset time rather than a guess in the wrong zone.
    formatter = null;
  }
  if (formatters.size >= MAX_CACHED_ZONES) formatters.clear();
  formatters.set(zone, formatter);
  return formatter;
}

function processZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone ?? "UTC";
}
