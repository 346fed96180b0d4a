import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { validateConfig } from "../config/loader.js";
import { silentLogger } from "../lib/logger.js";
import { channelsFromConfig, emailChannel, NotifyError, telegramChannel } from "./channels.js";

let server: Server;
let url = "";
const got: { path: string; auth: string | undefined; body: Record<string, unknown> }[] = [];
let status = 200;
/** When set, the error page's text: a provider page that echoes the request back. */
let echo: ((req: { url: string; auth: string }) => string) | undefined;

before(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      got.push({ path: req.url ?? "", auth: req.headers.authorization, body: JSON.parse(body) as Record<string, unknown> });
      res.writeHead(status, { "content-type": "application/json" });
      res.end(status === 200 ? '{"ok":true}' : echo ? echo({ url: req.url ?? "", auth: req.headers.authorization ?? "" }) : '{"ok":false,"description":"chat not found"}');
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

test("telegram: sendMessage to the chat, with the token in the path", async () => {
  got.length = 0;
  status = 200;
  await telegramChannel({ apiUrl: url, token: "123:SECRET", chatId: "-42" }).send({ kind: "swap-done", text: "swapped main → backup" });
  assert.equal(got[0]!.path, "/bot123:SECRET/sendMessage");
  assert.equal(got[0]!.body.chat_id, "-42");
  assert.match(String(got[0]!.body.text), /swapped main → backup/);
});

test("e-mail: Resend /emails with the key as bearer", async () => {
  got.length = 0;
  status = 200;
  await emailChannel({ apiUrl: url, apiKey: "re_KEY", from: "cf@x.test", to: ["op@x.test"] }).send({ kind: "all-exhausted", text: "every account is out" });
  assert.equal(got[0]!.path, "/emails");
  assert.equal(got[0]!.auth, "Bearer re_KEY");
  assert.deepEqual(got[0]!.body.to, ["op@x.test"]);
  assert.equal(got[0]!.body.subject, "claude-failover: all-exhausted");
});

test("a refusal is a NotifyError that never shows the token", async () => {
  status = 400;
  await assert.rejects(telegramChannel({ apiUrl: url, token: "123:SECRET", chatId: "-42" }).send({ kind: "resumed", text: "x" }), (e: unknown) => {
    assert.ok(e instanceof NotifyError);
    assert.match(e.message, /HTTP 400/);
    assert.doesNotMatch(e.message + String(e.stack), /SECRET/);
    return true;
  });
  await assert.rejects(telegramChannel({ apiUrl: "http://127.0.0.1:9", token: "123:SECRET", chatId: "-42" }).send({ kind: "resumed", text: "x" }), (e: unknown) => {
    assert.doesNotMatch((e as Error).message, /SECRET/);
    return true;
  });
});

test("a provider page that echoes the request URL or the key: the error quotes it with the secret redacted, never cut into a prefix", async (t) => {
  t.after(() => {
    echo = undefined;
    status = 200;
  });
  status = 404;
  const token = "123456:AAE-secretPART_xyz";
  const cases: [string, (req: { url: string; auth: string }) => string][] = [
    ["the URL", (r) => `Not Found: ${r.url}`],
    ["the URL, percent-encoded", (r) => `<a href="/x?next=${encodeURIComponent(r.url)}">retry</a>`],
    ["the secret half alone", () => `bad token secret AAE-secretPART_xyz`],
    ["the URL at the quoting limit", (r) => `${"x".repeat(195)}${r.url}`],
  ];
  for (const [what, page] of cases) {
    echo = page;
    await assert.rejects(telegramChannel({ apiUrl: url, token, chatId: "-42" }).send({ kind: "resumed", text: "x" }), (e: unknown) => {
      assert.ok(e instanceof NotifyError, what);
      assert.match(e.message, /HTTP 404/);
      assert.doesNotMatch(e.message, /secretPART|AAE-secr|AAE%2Dsecr|AAE-s$/, `${what}: ${e.message}`);
      return true;
    });
  }
  echo = (r) => `{"message":"invalid key ${r.auth}"}`;
  await assert.rejects(emailChannel({ apiUrl: url, apiKey: "re_LONGKEY_123", from: "cf@x.test", to: ["op@x.test"] }).send({ kind: "resumed", text: "x" }), (e: unknown) => {
    assert.match((e as Error).message, /HTTP 404: \{"message":"invalid key Bearer \[redacted\]"\}/);
    return true;
  });
});

test("channels follow the config and the environment", () => {
  const base = { accounts: [{ name: "a", home: "/a" }] };
  const config = (n: unknown) => validateConfig({ ...base, notifications: n }, "/etc/cf.yaml", "/home/op");
  const names = (n: unknown, env: NodeJS.ProcessEnv) => channelsFromConfig(config(n), env, silentLogger()).map((c) => c.name);
  assert.deepEqual(names({}, { TELEGRAM_BOT_TOKEN: "t" }), ["log"]);
  assert.deepEqual(names({ telegram: { chat_id: "1" } }, {}), ["log"]);
  assert.deepEqual(names({ telegram: { chat_id: "1" } }, { TELEGRAM_BOT_TOKEN: "t" }), ["log", "telegram"]);
  assert.deepEqual(names({ email: { from: "a@b.c", to: ["d@e.f"] } }, { RESEND_API_KEY: "k" }), ["log", "email"]);
});
