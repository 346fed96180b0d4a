import { after, describe, test } from "node:test";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import assert from "node:assert/strict";
import { TmuxError, type TmuxClient } from "./client.js";
import { FakeTmuxClient } from "./fake.js";
import { privateTmux } from "../../test/support/tmux-server.js";
import { CliTmuxClient } from "./cli-client.js";
import { until } from "../../test/support/until.js";

/** Polls a capture until it contains `needle` (real tmux renders asynchronously). */
async function waitForScreen(client: TmuxClient, name: string, needle: string): Promise<string> {
  let last = "";
  // Generous: a loaded CI machine can take seconds to run `cat` and redraw.
  return until(`the screen of ${name} to show ${JSON.stringify(needle)}`, async () => {
    last = await client.capturePane(name);
    return last.includes(needle) ? last : undefined;
  }, 15_000, { everyMs: 20, explain: () => `last:\n${last}` });
}

/** The contract every TmuxClient must honour; run against the fake and a real tmux server. */
function conformance(label: string, make: () => { client: TmuxClient; close: () => Promise<void> }): void {
  describe(`TmuxClient conformance: ${label}`, () => {
    const { client, close } = make();
    after(close);

    test("an unknown session does not exist, and listing a server with none is empty", async () => {
      assert.equal(await client.hasSession("nope"), false);
      assert.deepEqual((await client.listSessions()).map((s) => s.name), []);
    });

    test("unsetting global variables the server does not hold removes nothing, with or without a server", async () => {
      assert.deepEqual(await client.unsetGlobalEnv(["CF_NEVER_SET_A", "CF_NEVER_SET_B"]), []);
      await client.newSession({ name: "cf-genv", cwd: "/tmp", command: ["cat"] });
      assert.deepEqual(await client.unsetGlobalEnv(["CF_NEVER_SET_A"]), []);
      await client.killSession("cf-genv");
    });

    test("new, has, list, kill", async () => {
      await client.newSession({ name: "cf-a", cwd: "/tmp", command: ["cat"] });
      assert.equal(await client.hasSession("cf-a"), true);
      assert.deepEqual((await client.listSessions()).map((s) => s.name), ["cf-a"]);
      await client.killSession("cf-a");
      assert.equal(await client.hasSession("cf-a"), false);
    });

    test("targets are exact: a session named as a prefix of another is not found", async () => {
      await client.newSession({ name: "cf-pool-11", cwd: "/tmp", command: ["cat"] });
      assert.equal(await client.hasSession("cf-pool-1"), false);
      await client.killSession("cf-pool-1");
      assert.equal(await client.hasSession("cf-pool-11"), true);
      await client.killSession("cf-pool-11");
    });

    test("killing a missing session is not an error", async () => {
      await client.killSession("never-was");
    });

    test("a duplicate name is refused", async () => {
      await client.newSession({ name: "cf-dup", cwd: "/tmp", command: ["cat"] });
      await assert.rejects(client.newSession({ name: "cf-dup", cwd: "/tmp", command: ["cat"] }), TmuxError);
      await client.killSession("cf-dup");
    });

    test("text is sent literally: key names and tmux syntax stay text", async () => {
      await client.newSession({ name: "cf-lit", cwd: "/tmp", command: ["cat"] });
      const text = "Enter C-c ; kill-server $(echo x) -t =other";
      await client.sendText("cf-lit", text);
      await client.sendKey("cf-lit", "Enter");
      const screen = await waitForScreen(client, "cf-lit", text);
      assert.ok(screen.includes(text));
      assert.equal(await client.hasSession("cf-lit"), true);
      await client.killSession("cf-lit");
    });

    test("paste delivers multi-line text through a buffer", async () => {
      await client.newSession({ name: "cf-paste", cwd: "/tmp", command: ["cat"] });
      await client.paste("cf-paste", "line one\nline two; $HOME");
      await client.sendKey("cf-paste", "Enter");
      const screen = await waitForScreen(client, "cf-paste", "line two; $HOME");
      assert.ok(screen.includes("line one"));
      await client.killSession("cf-paste");
    });

    test("pane info answers for a live session", async () => {
      await client.newSession({ name: "cf-info", cwd: "/tmp", command: ["cat"] });
      const info = await client.paneInfo("cf-info");
      assert.ok(info.pid > 0);
      assert.equal(info.dead, false);
      // The janitor never removes a worktree a live session's cwd points into.
      assert.equal(info.currentPath, "/tmp");
      await client.killSession("cf-info");
    });

    test("operations on a missing session fail with TMUX_NO_SESSION", async () => {
      await assert.rejects(client.capturePane("gone"), (e: unknown) => e instanceof TmuxError && e.code === "TMUX_NO_SESSION");
      await assert.rejects(client.sendText("gone", "x"), (e: unknown) => e instanceof TmuxError && e.code === "TMUX_NO_SESSION");
    });

    test("names outside [A-Za-z0-9_-] are refused before tmux is run", async () => {
      for (const bad of ["a.b", "a:b", "", "x y", "=x", "a;b", "x".repeat(65)]) {
        await assert.rejects(client.hasSession(bad), (e: unknown) => e instanceof TmuxError && e.code === "TMUX_BAD_NAME", bad);
      }
    });
  });
}

conformance("fake", () => ({ client: new FakeTmuxClient(), close: async () => undefined }));
// Real tmux: the suite is what proves the fake behaves like tmux (exact targets, literal text, paste, pane info).
conformance("real tmux on a private socket", () => privateTmux("conf"));

// The adapter itself: a failing command needs a real tmux server for its exit code and stderr.
describe("CliTmuxClient errors", () => {
  test("a missing tmux binary is a TMUX_NOT_FOUND error carrying argv", async () => {
    const client = new CliTmuxClient({ binary: "/nonexistent/tmux-binary", socket: "cf-none" });
    await assert.rejects(client.listSessions(), (e: unknown) => {
      assert.ok(e instanceof TmuxError);
      assert.equal(e.code, "TMUX_NOT_FOUND");
      assert.deepEqual(e.argv.slice(0, 3), ["/nonexistent/tmux-binary", "-L", "cf-none"]);
      return true;
    });
  });

  test("a failing command carries argv, exit code and stderr", async () => {
    const { client, close } = privateTmux("err");
    try {
      await client.newSession({ name: "cf-e", cwd: "/tmp", command: ["cat"] });
      await assert.rejects(client.run(["no-such-command"]), (e: unknown) => {
        assert.ok(e instanceof TmuxError);
        assert.equal(e.exitCode, 1);
        assert.match(e.stderr, /unknown command/);
        assert.ok(e.argv.includes("no-such-command"));
        return true;
      });
    } finally {
      await close();
    }
  });

  test("the default server is never killed by killServer", async () => {
    await assert.rejects(new CliTmuxClient().killServer(), TmuxError);
  });
});

describe("CliTmuxClient environment", () => {
  test("the server gets the client's env; unsetGlobalEnv takes named variables out of it for new panes", async () => {
    const { client: plain, socket, close } = privateTmux("genv");
    const client = new CliTmuxClient({ socket, timeoutMs: 10_000, env: { ...process.env, CF_GENV_A: "value-a-1234", CF_GENV_B: "value-b-5678" } });
    try {
      await client.newSession({ name: "cf-g1", cwd: "/tmp", command: ["cat"] });
      assert.deepEqual(await client.unsetGlobalEnv(["CF_GENV_A", "CF_GENV_ABSENT"]), ["CF_GENV_A"]);
      assert.deepEqual(await client.unsetGlobalEnv(["CF_GENV_A"]), [], "gone already");
      await plain.newSession({ name: "cf-g2", cwd: "/tmp", command: ["sh", "-c", "echo A=${CF_GENV_A:-none} B=${CF_GENV_B:-none}; exec cat"] });
      const screen = await waitForScreen(plain, "cf-g2", "B=value-b-5678");
      assert.match(screen, /A=none B=value-b-5678/);
    } finally {
      await close();
    }
  });
});

describe("CliTmuxClient new-session against a server that is exiting", () => {
  /** A stand-in tmux that answers new-session as a dying server would for its first `failures` calls. */
  async function flakyTmux(failures: number): Promise<{ binary: string; calls: () => Promise<number>; cleanup: () => Promise<void> }> {
    const dir = await mkdtemp(path.join(tmpdir(), "cf-flaky-tmux-"));
    const count = path.join(dir, "count");
    await writeFile(count, "0");
    const binary = path.join(dir, "tmux");
    await writeFile(binary, `#!/bin/sh
n=$(($(cat "${count}") + 1)); echo "$n" > "${count}"
if [ "$n" -le ${failures} ]; then echo "server exited unexpectedly" >&2; exit 1; fi
exit 0
`, { mode: 0o755 });
    return { binary, calls: async () => Number(await readFile(count, "utf8")), cleanup: () => rm(dir, { recursive: true, force: true }) };
  }

  test("is tried again: the race with a server whose last session just closed creates nothing", async () => {
    const t = await flakyTmux(2);
    try {
      await new CliTmuxClient({ binary: t.binary, socket: "cf-flaky" }).newSession({ name: "cf-n", cwd: "/tmp", command: ["cat"] });
      assert.equal(await t.calls(), 3);
    } finally {
      await t.cleanup();
    }
  });

  test("gives up after three tries with tmux's message", async () => {
    const t = await flakyTmux(5);
    try {
      await assert.rejects(new CliTmuxClient({ binary: t.binary, socket: "cf-flaky" }).newSession({ name: "cf-n", cwd: "/tmp" }), /server exited unexpectedly/);
      assert.equal(await t.calls(), 3);
    } finally {
      await t.cleanup();
    }
  });
});
