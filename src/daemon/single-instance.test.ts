import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { access, mkdir, readFile, writeFile } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { loadConfig } from "../config/loader.js";
import { FakeClock } from "../lib/test-clock.js";
import { silentLogger } from "../lib/logger.js";
import { FakeTmuxClient } from "../tmux/fake.js";
import { makeSandbox } from "../../test/support/sandbox.js";
import { Daemon, StartupError } from "./daemon.js";
import { parseLockRecord } from "./lock.js";

const exists = (f: string) => access(f).then(() => true, () => false);

describe("one daemon per state", () => {
  test("a second daemon on the same state_dir is refused naming the holder's pid and touches no tmux; the lock goes at stop", async () => {
    const sb = await makeSandbox();
    try {
      const config = await loadConfig(await sb.writeConfig());
      const first = new Daemon({ config, log: silentLogger(), clock: new FakeClock(), tmux: new FakeTmuxClient(), listen: "127.0.0.1:0" });
      await first.start();
      const lockFile = path.join(config.state_dir, "daemon.lock");
      try {
        assert.equal(parseLockRecord(await readFile(lockFile, "utf8"))?.pid, process.pid);
        const tmux = new FakeTmuxClient();
        const second = new Daemon({ config, log: silentLogger(), clock: new FakeClock(), tmux, listen: "127.0.0.1:0" });
        await assert.rejects(second.start(), (e: unknown) => e instanceof StartupError && e.message.includes(`pid ${process.pid}`) && e.message.includes(lockFile));
        assert.equal(second.status, "stopped");
        assert.deepEqual(tmux.touched("new-session"), []);
        // The refused one must not have released the first one's lock.
        assert.equal(await exists(lockFile), true);
        assert.equal((await fetch(`${first.url}/health`)).status, 200);
      } finally {
        await first.stop();
      }
      assert.equal(await exists(lockFile), false);
    } finally {
      await sb.close();
    }
  });

  test("two state_dirs on one tmux server: the second is refused by the tmux lock", async () => {
    const a = await makeSandbox();
    const b = await makeSandbox();
    try {
      const tmuxLock = path.join(a.dir, "tmux-lock", "cf.claude-failover.lock");
      const first = new Daemon({ config: await loadConfig(await a.writeConfig()), log: silentLogger(), clock: new FakeClock(), tmux: new FakeTmuxClient(), listen: "127.0.0.1:0", tmuxLock });
      await first.start();
      try {
        const second = new Daemon({ config: await loadConfig(await b.writeConfig()), log: silentLogger(), clock: new FakeClock(), tmux: new FakeTmuxClient(), listen: "127.0.0.1:0", tmuxLock });
        await assert.rejects(second.start(), (e: unknown) => e instanceof StartupError && e.message.includes(tmuxLock));
        assert.equal(await exists(path.join(b.dir, "state", "daemon.lock")), false);
      } finally {
        await first.stop();
      }
      assert.equal(await exists(tmuxLock), false);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test("a lock left by a dead daemon is taken over", async () => {
    const sb = await makeSandbox();
    try {
      const config = await loadConfig(await sb.writeConfig());
      await mkdir(config.state_dir, { recursive: true });
      const { spawnSync } = await import("node:child_process");
      const deadPid = spawnSync(process.execPath, ["-e", "0"]).pid;
      await writeFile(path.join(config.state_dir, "daemon.lock"), JSON.stringify({ pid: deadPid, start: "1", since: "2026-01-01T00:00:00.000Z" }));
      const d = new Daemon({ config, log: silentLogger(), clock: new FakeClock(), tmux: new FakeTmuxClient(), listen: "127.0.0.1:0" });
      await d.start();
      await d.stop();
    } finally {
      await sb.close();
    }
  });
});

describe("corrupt state", () => {
  test("the refusal names `run --reset-state`, and that option starts from defaults with the file kept aside", async () => {
    const sb = await makeSandbox();
    try {
      const config = await loadConfig(await sb.writeConfig());
      await mkdir(config.state_dir, { recursive: true });
      await writeFile(path.join(config.state_dir, "state.json"), "{ not json");
      const refused = new Daemon({ config, log: silentLogger(), clock: new FakeClock(), tmux: new FakeTmuxClient(), listen: "127.0.0.1:0" });
      await assert.rejects(refused.start(), (e: unknown) => e instanceof StartupError && e.message.includes("claude-failover run --reset-state"));
      const reset = new Daemon({ config, log: silentLogger(), clock: new FakeClock(), tmux: new FakeTmuxClient(), listen: "127.0.0.1:0", resetCorruptState: true });
      await reset.start();
      assert.equal((await fetch(`${reset.url}/health`)).status, 200);
      await reset.stop();
    } finally {
      await sb.close();
    }
  });
});

describe("the daemon's HTTP gate", () => {
  test("http.allowed_hosts reaches the gate: a listed name passes, another is 421", async () => {
    const sb = await makeSandbox();
    try {
      const config = await loadConfig(await sb.writeConfig({ http: { listen: "127.0.0.1:0", allowed_hosts: ["cf.example.lan"] } }));
      const d = new Daemon({ config, log: silentLogger(), clock: new FakeClock(), tmux: new FakeTmuxClient(), listen: "127.0.0.1:0" });
      await d.start();
      try {
        const get = (host: string) => new Promise<number>((resolve, reject) => {
          const u = new URL(d.url!);
          http.get({ host: u.hostname, port: u.port, path: "/health", headers: { host } }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          }).on("error", reject);
        });
        assert.equal(await get("cf.example.lan"), 200);
        assert.equal(await get("rebound.example"), 421);
      } finally {
        await d.stop();
      }
    } finally {
      await sb.close();
    }
  });
});
