import { test } from "node:test";
import assert from "node:assert/strict";
import { configJsonSchema } from "./json-schema.js";
import { parseConfigText } from "./loader.js";
import { secretEnvNames, withoutSecrets } from "./secrets.js";

const parse = (text: string) => parseConfigText(text, "/etc/cf/config.yaml", "/home/op");

test("secretEnvNames: the API token, both notification keys, the delegation key and every account's env_from source", () => {
  const config = parse(`
http: { token_env: CF_HTTP_TOKEN }
notifications:
  telegram: { bot_token_env: CF_TG }
  email: { api_key_env: CF_RESEND }
accounts:
  - { name: a, home: /h/a, env_from: { ANTHROPIC_API_KEY: KEY_A, OTHER: SHARED } }
  - { name: b, home: /h/b, env: { PLAIN: x }, env_from: { CLAUDE_CODE_OAUTH_TOKEN: TOKEN_B, MORE: SHARED } }
`);
  assert.deepEqual(secretEnvNames(config), ["CCL_SECUTOOLS_API_KEY", "CF_HTTP_TOKEN", "CF_RESEND", "CF_TG", "KEY_A", "SECUTOOLS_API_KEY", "SHARED", "TOKEN_B"]);
});

test("secretEnvNames: the notification defaults count even when no channel is set up", () => {
  const config = parse("accounts:\n  - { name: a, home: /h/a }\n");
  assert.deepEqual(secretEnvNames(config), ["CCL_SECUTOOLS_API_KEY", "RESEND_API_KEY", "SECUTOOLS_API_KEY", "TELEGRAM_BOT_TOKEN"]);
});

test("every *_env key of the config schema is one secretEnvNames reads", () => {
  const found: string[] = [];
  const walk = (node: unknown, at: string): void => {
    if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${at}[${i}]`));
    if (node === null || typeof node !== "object") return;
    for (const [k, v] of Object.entries(node)) {
      if (k === "properties" && v !== null && typeof v === "object") for (const p of Object.keys(v as object)) if (p.endsWith("_env") || p === "env_from") found.push(`${at}.${p}`);
      walk(v, `${at}.${k}`);
    }
  };
  walk(configJsonSchema(), "");
  const short = found.map((f) => f.replace(/\.properties|\.items|\.anyOf\[\d+\]/g, "").replace(/^\./, "")).sort();
  // A new secret-bearing key lands here first: add it to secretEnvNames, then to this list.
  assert.deepEqual(short, ["accounts.env_from", "http.token_env", "notifications.email.api_key_env", "notifications.telegram.bot_token_env"]);
});

test("withoutSecrets drops exactly the named variables", () => {
  const env = { PATH: "/bin", HTTPS_PROXY: "http://proxy:3128", KEY_A: "sk-a", CF_HTTP_TOKEN: "t" };
  assert.deepEqual(withoutSecrets(env, ["KEY_A", "CF_HTTP_TOKEN", "ABSENT"]), { PATH: "/bin", HTTPS_PROXY: "http://proxy:3128" });
  assert.equal(env.KEY_A, "sk-a", "the daemon's own environment is left alone");
});
