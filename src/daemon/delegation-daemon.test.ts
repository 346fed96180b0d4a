/**
 * Delegation through the running daemon (fake tmux and fake Claude behind the real work loop, a real
 * mock job service on loopback): one task asks for a GPU and flows inbox → .md.delegated → done/ with
 * provider and cost in its footer, while a plain task runs on a local pool session beside it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { loadConfig } from "../config/loader.js";
import { silentLogger } from "../lib/logger.js";
import { FakeTmuxClient } from "../tmux/fake.js";
import { FakeClaude } from "../dispatch/test-fake-claude.js";
import { makeSandbox } from "../../test/support/sandbox.js";
import { startMockJobService } from "../../test/support/mock-job-service.js";
import { until } from "../../test/support/until.js";
import { Daemon } from "./daemon.js";

test("a delegated and a local task run side by side through the daemon; the idle dedicated session is never used", async () => {
  const sb = await makeSandbox();
  const jobs = await startMockJobService({ apiKey: "k-123" });
  let daemon: Daemon | undefined;
  try {
    jobs.setDefaultPlan({ result: "the GPU's answer", cost_usd: 0.42, runningPolls: 1 });
    const root = path.join(sb.dir, "queue");
    const config = await loadConfig(await sb.writeConfig({
      queue: { root, projects: { web: sb.dir }, rescan_interval: "1s" },
      watcher: { poll_interval: "100ms", idle_confirm: 2 },
      pool: { autonomous: { prefix: "cf-pool-", start_index: 1, min: 1, max: 1, cwd: sb.dir }, dedicated: [{ name: "cf-operator", cwd: sb.dir }] },
      quota: { usage_api: false },
      delegation: { url: jobs.url, poll_interval: "100ms", reap_interval: "100ms" },
    }));
    const tmux = new FakeTmuxClient();
    const fake = new FakeClaude({ emit: (e) => daemon?.hooks.record(e, Date.now()) });
    tmux.programFor = () => fake.program;
    daemon = new Daemon({ config, log: silentLogger(), tmux, listen: "127.0.0.1:0", env: { CCL_SECUTOOLS_API_KEY: "k-123" } });
    await daemon.start();

    const { submitTask } = await import("../queue/submit.js");
    await submitTask(root, "web", "---\nallow_delegation: yes\npreferred_ai: gpu\n---\nRender the thing on a GPU.\n", { sourceName: "gpu-job.md" });
    await submitTask(root, "web", "Fix the bug locally.\n", { sourceName: "local-job.md" });

    await until("both tasks in done/", async () => (await readdir(path.join(root, "web", "done")).catch(() => [])).length === 2 || undefined, 20_000, { everyMs: 50 });
    const delegated = await readFile(path.join(root, "web", "done", "gpu-job.md"), "utf8");
    assert.match(delegated, /## Result\n\nthe GPU's answer/);
    assert.match(delegated, /provider: gpu/);
    assert.match(delegated, /cost_usd: 0\.42/);
    const local = await readFile(path.join(root, "web", "done", "local-job.md"), "utf8");
    assert.match(local, /provider: claude-code/);
    assert.deepEqual(fake.prompts.map((p) => `${p.session}: ${p.prompt}`), ["cf-pool-1: Fix the bug locally."], "only the local task reached a session, a pool one");
    // S3/S7: the idle dedicated session was created, and never typed into, pasted into or sent /exit.
    assert.deepEqual(tmux.calls.filter((c) => c.name === "cf-operator" && !["new-session", "list-sessions"].includes(c.op)).map((c) => c.op), []);
    assert.equal(jobs.submits().length, 1, "one job, submitted once");
    assert.deepEqual((await readdir(path.join(root, "web", "inbox"))).filter((n) => !n.startsWith(".")), []);
    const status = (await (await fetch(`${daemon.url}/api/delegated/status`)).json()) as { counters: { completed_total: number } };
    assert.equal(status.counters.completed_total, 1);
  } finally {
    await daemon?.stop();
    await jobs.close();
    await sb.close();
  }
});

test("with no API key, delegation does not exist: /api/delegated/status is 404", async () => {
  const sb = await makeSandbox();
  try {
    const config = await loadConfig(await sb.writeConfig({ delegation: { url: "http://127.0.0.1:9" } }));
    const daemon = new Daemon({ config, log: silentLogger(), tmux: new FakeTmuxClient(), listen: "127.0.0.1:0", env: {} });
    await daemon.start();
    assert.equal((await fetch(`${daemon.url}/api/delegated/status`)).status, 404);
    await daemon.stop();
  } finally {
    await sb.close();
  }
});
