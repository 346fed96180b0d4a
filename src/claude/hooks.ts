import { z } from "zod";
import { dropUndefined } from "../lib/objects.js";

/** `error` values of the StopFailure hook (2.1.78+); anything else is kept as `unknown` with the raw value. */
export const STOP_FAILURE_ERRORS = [
  "rate_limit", "authentication_failed", "billing_error", "invalid_request", "server_error", "max_output_tokens", "unknown",
] as const;
export type StopFailureError = (typeof STOP_FAILURE_ERRORS)[number];

/** Fields every hook payload carries. */
export interface HookBase {
  sessionId: string;
  transcriptPath?: string;
  cwd?: string;
  permissionMode?: string;
}

export type HookEvent =
  | (HookBase & { kind: "Stop"; lastAssistantMessage?: string; stopHookActive: boolean })
  | (HookBase & {
      kind: "StopFailure";
      error: StopFailureError;
      /** The value as sent, when it was not one of STOP_FAILURE_ERRORS. */
      errorRaw?: string;
      errorDetails?: string;
      lastAssistantMessage?: string;
    })
  | (HookBase & { kind: "SessionStart"; source?: string; model?: string })
  | (HookBase & { kind: "SessionEnd"; reason?: string })
  | (HookBase & { kind: "Notification"; notificationType?: string; message?: string; title?: string })
  | (HookBase & { kind: "UserPromptSubmit"; prompt?: string })
  /** An event this daemon does not interpret (PreToolUse, PreCompact, a future one …). */
  | (HookBase & { kind: "Other"; name: string });

export type HookParseResult = { ok: true; event: HookEvent } | { ok: false; reason: string };

/** A field of the wrong type is dropped, never fatal: the payload format grows between versions. */
const optString = z.string().optional().catch(undefined);
const EVENT_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
/** Session ids become map keys, log fields and file names: UUIDs in practice, a safe charset enforced. */
const SESSION_ID = /^[A-Za-z0-9._-]{1,128}$/;

const payloadSchema = z.looseObject({
  session_id: optString,
  hook_event_name: optString,
  transcript_path: optString,
  cwd: optString,
  permission_mode: optString,
  last_assistant_message: optString,
  stop_hook_active: z.boolean().optional().catch(undefined),
  error: optString,
  error_details: z.unknown().optional(),
  source: optString,
  model: optString,
  reason: optString,
  notification_type: optString,
  message: optString,
  title: optString,
  prompt: optString,
});

/**
 * Turns a hook's stdin JSON into a typed event keyed by session id. `fallbackName` is the event the
 * hook command was registered for (`hook EVENT`), used when the payload does not name one.
 */
export function parseHookPayload(payload: unknown, fallbackName?: string): HookParseResult {
  const parsed = payloadSchema.safeParse(payload);
  if (!parsed.success) return { ok: false, reason: `hook payload is not a JSON object (got ${describe(payload)})` };
  const p = parsed.data;
  const name = p.hook_event_name ?? fallbackName;
  if (name === undefined || !EVENT_NAME.test(name)) return { ok: false, reason: `hook payload names no valid event (got ${JSON.stringify(String(name).slice(0, 80))})` };
  if (p.session_id === undefined || !SESSION_ID.test(p.session_id)) {
    return { ok: false, reason: `${name} hook payload has no valid session_id (got ${JSON.stringify(String(p.session_id).slice(0, 80))})` };
  }
  const base: HookBase = dropUndefined({ sessionId: p.session_id, transcriptPath: p.transcript_path, cwd: p.cwd, permissionMode: p.permission_mode });
  switch (name) {
    case "Stop":
      return { ok: true, event: dropUndefined({ ...base, kind: "Stop", lastAssistantMessage: p.last_assistant_message, stopHookActive: p.stop_hook_active === true }) };
    case "StopFailure": {
      const known = (STOP_FAILURE_ERRORS as readonly string[]).includes(p.error ?? "");
      return {
        ok: true,
        event: dropUndefined({
          ...base,
          kind: "StopFailure",
          error: known ? (p.error as StopFailureError) : "unknown",
          errorRaw: known ? undefined : p.error,
          errorDetails: detailsText(p.error_details),
          lastAssistantMessage: p.last_assistant_message,
        }),
      };
    }
    case "SessionStart":
      return { ok: true, event: dropUndefined({ ...base, kind: "SessionStart", source: p.source, model: p.model }) };
    case "SessionEnd":
      return { ok: true, event: dropUndefined({ ...base, kind: "SessionEnd", reason: p.reason }) };
    case "Notification":
      return { ok: true, event: dropUndefined({ ...base, kind: "Notification", notificationType: p.notification_type, message: p.message, title: p.title }) };
    case "UserPromptSubmit":
      return { ok: true, event: dropUndefined({ ...base, kind: "UserPromptSubmit", prompt: p.prompt }) };
    default:
      return { ok: true, event: { ...base, kind: "Other", name } };
  }
}

/** What `claude-failover hook` posts to `/api/hook` and writes to the spool. */
export interface HookEnvelope {
  /** The event name the hook command was called with. */
  event: string;
  payload: unknown;
  /** ISO-8601 time the hook command received the payload. */
  received_at: string;
  /** Where the hook ran, from its environment: which tmux pane, which account, which session. */
  context?: { tmux_pane?: string; config_dir?: string; claude_session_id?: string };
}

const envelopeSchema = z.object({
  event: z.string().regex(EVENT_NAME),
  payload: z.unknown(),
  received_at: z.iso.datetime({ offset: true }),
  context: z
    .looseObject({ tmux_pane: optString, config_dir: optString, claude_session_id: optString })
    .optional()
    .catch(undefined),
});

export type EnvelopeParseResult =
  | { ok: true; envelope: HookEnvelope; event: HookEvent; receivedAt: number }
  | { ok: false; reason: string };

/** Validates an envelope (from `/api/hook` or a spool file) and parses the payload inside it. */
export function parseHookEnvelope(body: unknown): EnvelopeParseResult {
  const parsed = envelopeSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, reason: `invalid hook envelope: ${issue ? `${issue.path.join(".") || "(root)"}: ${issue.message}` : "unknown problem"}` };
  }
  const envelope: HookEnvelope = dropUndefined({ ...parsed.data });
  let payload = envelope.payload;
  // A session id from the environment (2.1.163+) rescues a payload that lost its own.
  const envId = envelope.context?.claude_session_id;
  if (isRecord(payload) && payload.session_id === undefined && envId !== undefined) payload = { ...payload, session_id: envId };
  const event = parseHookPayload(payload, envelope.event);
  if (!event.ok) return event;
  return { ok: true, envelope, event: event.event, receivedAt: Date.parse(envelope.received_at) };
}

/**
 * True when a StopFailure is a subscription usage limit rather than throttling. Measured on 2.1.197:
 * `error: "rate_limit"` also comes with a 429 that carries no quota headers (`API Error: Server is
 * temporarily limiting requests (not your usage limit)`) and, with an API key, with `API Error:
 * Request rejected (429)`; only the banner (`You've hit your session limit · resets …`) is quota.
 */
export function isUsageLimitFailure(event: HookEvent): boolean {
  return event.kind === "StopFailure" && isUsageLimitError(event.error, event.lastAssistantMessage);
}

/**
 * The same test for any error class + text pair Claude Code reports (a StopFailure, or a synthetic
 * API-error line in a transcript, which carries `error: "rate_limit"` in all the same cases).
 */
export function isUsageLimitError(error: string | undefined, text: string | undefined): boolean {
  if (error !== "rate_limit") return false;
  const t = text?.trim() ?? "";
  if (t === "" || /^API Error\b/i.test(t) || /not your usage limit/i.test(t)) return false;
  return /\blimit\b/i.test(t) || /out of extra usage/i.test(t);
}

function detailsText(details: unknown): string | undefined {
  if (details === undefined || details === null) return undefined;
  if (typeof details === "string") return details;
  try {
    return JSON.stringify(details).slice(0, 4096);
  } catch {
    return undefined;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "an array" : typeof v;
}
