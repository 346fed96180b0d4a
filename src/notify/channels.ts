import type { Config } from "../config/schema.js";
import { AppError } from "../lib/errors.js";
import type { Logger } from "../lib/logger.js";
import { logChannel, type Notification, type NotificationChannel } from "./notifier.js";

/** A channel could not deliver. The message never holds the token or key (a Telegram token sits in the URL). */
export class NotifyError extends AppError {
  constructor(channel: string, message: string) {
    super("NOTIFY_FAILED", `${channel}: ${message}`);
  }
}

const TIMEOUT_MS = 10_000;

/** Longest provider answer quoted in an error. */
const QUOTED_CHARS = 200;

/**
 * The provider's answer with the secret taken out, as the other clients do: a page that echoes the
 * request URL (Telegram's token sits in its path) or the Authorization header must not carry it into
 * the log. Redacted before it is cut short, so no prefix of the secret survives the cut; its URL-encoded
 * form and a Telegram token's secret half (after the colon) go too.
 */
function redactSecret(text: string, secret: string): string {
  const forms = [secret, encodeURIComponent(secret), secret.includes(":") ? secret.slice(secret.indexOf(":") + 1) : ""]
    .filter((f) => f.length >= 4)
    .sort((a, b) => b.length - a.length);
  return forms.reduce((t, f) => t.split(f).join("[redacted]"), text);
}

async function post(channel: string, url: string, headers: Record<string, string>, body: unknown, fetchImpl: typeof fetch, secret: string): Promise<void> {
  let res: Response;
  try {
    res = await fetchImpl(url, {
      method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body),
      signal: AbortSignal.timeout(TIMEOUT_MS), redirect: "error",
    });
  } catch (err) {
    // The fetch error can quote the URL: keep only its kind.
    throw new NotifyError(channel, `request failed (${err instanceof Error ? err.name : "error"})`);
  }
  const text = redactSecret(await res.text().catch(() => ""), secret).replace(/\s+/g, " ").slice(0, QUOTED_CHARS);
  if (!res.ok) throw new NotifyError(channel, `HTTP ${res.status}${text ? `: ${text}` : ""}`);
}

/** Telegram Bot API sendMessage. */
export function telegramChannel(o: { apiUrl: string; token: string; chatId: string; fetch?: typeof fetch }): NotificationChannel {
  return {
    name: "telegram",
    send: (n: Notification) =>
      post("telegram", `${o.apiUrl.replace(/\/+$/, "")}/bot${o.token}/sendMessage`, {}, { chat_id: o.chatId, text: `claude-failover: ${n.text}`, disable_web_page_preview: true }, o.fetch ?? fetch, o.token),
  };
}

/** E-mail through the Resend API. */
export function emailChannel(o: { apiUrl: string; apiKey: string; from: string; to: readonly string[]; fetch?: typeof fetch }): NotificationChannel {
  return {
    name: "email",
    send: (n: Notification) =>
      post("email", `${o.apiUrl.replace(/\/+$/, "")}/emails`, { authorization: `Bearer ${o.apiKey}` }, {
        from: o.from, to: o.to, subject: `claude-failover: ${n.kind}`, text: n.text,
      }, o.fetch ?? fetch, o.apiKey),
  };
}

/**
 * The channels the config and environment switch on (contract §7): the log always; Telegram when a chat id
 * is set and its token variable holds a value; e-mail when from/to are set and its key variable holds one.
 * A channel configured but missing its secret is logged once and left out.
 */
export function channelsFromConfig(config: Config, env: NodeJS.ProcessEnv, log: Logger, fetchImpl?: typeof fetch): NotificationChannel[] {
  const channels: NotificationChannel[] = [logChannel(log)];
  const t = config.notifications.telegram;
  if (t.chat_id !== "") {
    const token = env[t.bot_token_env];
    if (token) channels.push(telegramChannel({ apiUrl: t.api_url, token, chatId: t.chat_id, ...(fetchImpl ? { fetch: fetchImpl } : {}) }));
    else log.warn({ variable: t.bot_token_env }, "telegram notifications configured but the token variable is not set: left out");
  }
  const e = config.notifications.email;
  if (e.from !== "" && e.to.length > 0) {
    const key = env[e.api_key_env];
    if (key) channels.push(emailChannel({ apiUrl: e.api_url, apiKey: key, from: e.from, to: e.to, ...(fetchImpl ? { fetch: fetchImpl } : {}) }));
    else log.warn({ variable: e.api_key_env }, "e-mail notifications configured but the key variable is not set: left out");
  }
  return channels;
}
