import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { access } from "node:fs/promises";
import path from "node:path";
import { PassThrough, Readable } from "node:stream";
import { runCli } from "./cli.js";
import { makeSandbox } from "../../test/support/sandbox.js";
import { privateTmux } from "../../test/support/tmux-server.js";
import { startDaemonProcess } from "../../test/support/daemon-process.js";
import { startNotifySocket } from "../../test/support/notify-socket.js";
import { until } from "../../test/support/until.js";

const exists = (f: string) => access(f).then(() => true, () => false);

// Real processes, real tmux on a private socket, real systemd-notify against a local NOTIFY_SOCKET: `run` is a child
// process that builds its own tmux client, so no fake can be handed to it.
describe("`run` as a process", () => {
  test("READY=1 and watchdog pings reach NOTIFY_SOCKET; a second run is refused with exit 1 naming the pid; SIGHUP is an orderly stop", async () => {
    const tmux = privateTmux("run");
    const sb = await makeSandbox({ socket: tmux.socket });
    const notify = await startNotifySocket(path.join(sb.dir, "notify.sock"));
    const env = { ...process.env, HOME: sb.home, NOTIFY_SOCKET: notify.path, WATCHDOG_USEC: "1000000" };
    try {
      const configPath = await sb.writeConfig();
      const first = startDaemonProcess({ configPath, env, logFile: path.join(sb.dir, "first.log") });
      const explain = async () => `messages: ${JSON.stringify(notify.messages)}\nlog:\n${(await first.logLines()).map((l) => JSON.stringify(l)).join("\n")}`;
      try {
        await until("READY=1", async () => (notify.messages.some((m) => m.split("\n").includes("READY=1")) ? true : undefined), 60_000, { explain });
        await until("two watchdog pings", async () => (notify.messages.filter((m) => m === "WATCHDOG=1").length >= 2 ? true : undefined), 10_000, { explain });
        const lock = path.join(sb.dir, "state", "daemon.lock");
        assert.equal(await exists(lock), true);

        const second = startDaemonProcess({ configPath, env: { ...env, NOTIFY_SOCKET: "" }, logFile: path.join(sb.dir, "second.log") });
        const refused = await second.exited;
        assert.equal(refused.code, 1);
        const said = (await second.logLines()).map((l) => String(l.msg)).join("\n");
        assert.match(said, new RegExp(`another claude-failover \\(pid ${first.pid},`));
        assert.equal(first.exit(), undefined, "the first daemon runs on");

        assert.equal(first.kill("SIGHUP"), true);
        const ended = await first.exited;
        assert.deepEqual(ended, { code: 0, signal: null });
        assert.ok((await first.logLines()).some((l) => l.msg === "stopped"));
        assert.ok(notify.messages.includes("STOPPING=1"));
        assert.equal(await exists(lock), false, "the lock is released at an orderly stop");
        assert.equal(await tmux.client.hasSession("cf-pool-1"), true, "tmux sessions outlive the daemon");
      } finally {
        first.kill("SIGKILL");
        await first.exited;
      }
    } finally {
      await notify.close();
      await tmux.close();
      await sb.close();
    }
  });
});

describe("`run` listen rules", () => {
  test("listen beyond loopback without http.token_env: exit 2, saying why, before anything starts", async () => {
    const sb = await makeSandbox();
    try {
      const configPath = await sb.writeConfig({ http: { listen: "0.0.0.0:0" } });
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      let err = "";
      stderr.on("data", (c: Buffer) => (err += c.toString()));
      const code = await runCli(["run", "--config", configPath], { stdout, stderr, stdin: Readable.from([""]), env: {} });
      assert.equal(code, 2);
      assert.match(err, /http\.listen: 0\.0\.0\.0:0 is reachable beyond this host: set http\.token_env/);
      assert.equal(await exists(path.join(sb.dir, "state")), false, "nothing was started");
    } finally {
      await sb.close();
    }
  });
});

test("`run --help` offers --reset-state, the option the corrupt-state refusal names", async () => {
  const stdout = new PassThrough();
  let out = "";
  stdout.on("data", (c: Buffer) => (out += c.toString()));
  const code = await runCli(["run", "--help"], { stdout, stderr: new PassThrough(), stdin: Readable.from([""]), env: {} });
  assert.equal(code, 0);
  assert.match(out, /--reset-state/);
});
