import { afterEach, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, realpath, rm, stat, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import {
  LinkError,
  SHARED_LINK_NAMES,
  ensureAllAccounts,
  ensureSharedLinks,
  flipLink,
  formatLinkProblem,
  inspectSharedLinks,
  sharedTarget,
  validateAllAccounts,
  type LinkCreated,
  type LinkProblem,
} from "./shared-links.js";

let root: string;
let shared: string;

beforeEach(async () => {
  // realpath: macOS-style /tmp symlinks would otherwise make every comparison indirect.
  root = await realpath(await mkdtemp(path.join(os.tmpdir(), "cf-links-")));
  shared = path.join(root, "shared");
  await mkdir(shared);
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function newHome(name = "home"): Promise<string> {
  const home = path.join(root, name);
  await mkdir(home);
  return home;
}

function target(name: (typeof SHARED_LINK_NAMES)[number]): string {
  return sharedTarget(shared, name);
}

async function assertAllLinksCorrect(home: string): Promise<void> {
  for (const name of SHARED_LINK_NAMES) {
    assert.equal(await readlink(path.join(home, name)), target(name), `${name} link text`);
    assert.ok((await stat(target(name))).isDirectory(), `${name} shared folder exists`);
  }
}

void describe("shared link contract", () => {
  void test("exactly three names, absolute targets, all directly under one shared root", () => {
    assert.deepEqual([...SHARED_LINK_NAMES].sort(), ["file-history", "projects", "session-env"]);
    const targets = SHARED_LINK_NAMES.map((n) => sharedTarget("/home/op", n));
    assert.ok(targets.every((t) => path.isAbsolute(t)));
    assert.deepEqual(new Set(targets.map((t) => path.dirname(t))), new Set(["/home/op"]));
    assert.equal(sharedTarget("/home/op", "projects"), "/home/op/.claude-projects-shared");
  });

  void test("a relative shared root is refused", () => {
    assert.throws(() => sharedTarget("home/op", "projects"), (e: unknown) => e instanceof LinkError && e.code === "SHARED_ROOT_NOT_ABSOLUTE");
  });
});

void describe("ensureSharedLinks", () => {
  void test("missing links and shared folders are created (0700) and logged", async () => {
    const home = await newHome();
    const logged: LinkCreated[] = [];
    const r = await ensureSharedLinks(home, shared, (e) => logged.push(e));
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.created.sort(), SHARED_LINK_NAMES.map((n) => path.join(home, n)).sort());
    await assertAllLinksCorrect(home);
    for (const name of SHARED_LINK_NAMES) assert.equal((await stat(target(name))).mode & 0o777, 0o700);
    assert.deepEqual(logged.map((e) => [e.link, e.target, e.createdTarget]).sort(), SHARED_LINK_NAMES.map((n) => [path.join(home, n), target(n), true]).sort());
  });

  void test("is idempotent: a second run creates nothing and reports nothing", async () => {
    const home = await newHome();
    await ensureSharedLinks(home, shared);
    const logged: LinkCreated[] = [];
    const again = await ensureSharedLinks(home, shared, (e) => logged.push(e));
    assert.deepEqual(again, { created: [], problems: [] });
    assert.deepEqual(logged, []);
    await assertAllLinksCorrect(home);
  });

  void test("an existing shared folder is used, not recreated: its content stays", async () => {
    const home = await newHome();
    await mkdir(target("projects"));
    await writeFile(path.join(target("projects"), "t.jsonl"), "x");
    const logged: LinkCreated[] = [];
    await ensureSharedLinks(home, shared, (e) => logged.push(e));
    assert.equal(logged.find((e) => e.link.endsWith("projects"))?.createdTarget, false);
    assert.equal(await readFile(path.join(home, "projects", "t.jsonl"), "utf8"), "x");
  });

  void test("a correct link whose shared folder vanished gets the folder back", async () => {
    const home = await newHome();
    await symlink(target("projects"), path.join(home, "projects"));
    const r = await ensureSharedLinks(home, shared);
    assert.deepEqual(r.problems, []);
    assert.ok(!r.created.includes(path.join(home, "projects")), "the link existed: not reported as created");
    assert.ok((await stat(path.join(home, "projects"))).isDirectory());
  });

  void test("a divergent link is a problem and is left untouched", async () => {
    const home = await newHome();
    const elsewhere = path.join(root, "elsewhere");
    await mkdir(elsewhere);
    await symlink(elsewhere, path.join(home, "projects"));
    const r = await ensureSharedLinks(home, shared);
    assert.deepEqual(r.problems.map((p) => [p.kind, p.link]), [["divergent", path.join(home, "projects")]]);
    assert.equal(await readlink(path.join(home, "projects")), elsewhere);
    assert.match(r.problems[0]?.found ?? "", new RegExp(elsewhere));
    assert.match(r.problems[0]?.fix ?? "", /ln -s /);
    // The other two are still ensured: one problem does not stop the rest.
    assert.equal(await readlink(path.join(home, "session-env")), target("session-env"));
  });

  void test("a real folder with a file inside is a problem; folder and file are untouched", async () => {
    const home = await newHome();
    const dir = path.join(home, "projects");
    await mkdir(dir);
    await writeFile(path.join(dir, "only-copy.jsonl"), "precious");
    const r = await ensureSharedLinks(home, shared);
    const p = r.problems.find((x) => x.link === dir);
    assert.equal(p?.kind, "not-a-link");
    assert.equal(p?.found, "a folder");
    assert.match(p?.fix ?? "", /^move the folder's content into .*\.claude-projects-shared, then: rmdir .* && ln -s /);
    assert.ok((await lstat(dir)).isDirectory());
    assert.equal(await readFile(path.join(dir, "only-copy.jsonl"), "utf8"), "precious");
  });

  void test("a regular file in a link's place is a problem and stays", async () => {
    const home = await newHome();
    const file = path.join(home, "session-env");
    await writeFile(file, "data");
    const r = await ensureSharedLinks(home, shared);
    assert.deepEqual(r.problems.map((p) => [p.kind, p.link, p.found]), [["not-a-link", file, "a file"]]);
    assert.equal(await readFile(file, "utf8"), "data");
  });

  void test("a shared folder path that is a file is a problem; no link is made to it", async () => {
    const home = await newHome();
    await writeFile(target("file-history"), "oops");
    const r = await ensureSharedLinks(home, shared);
    assert.deepEqual(r.problems.map((p) => p.kind), ["target-not-dir"]);
    await assert.rejects(lstat(path.join(home, "file-history")), { code: "ENOENT" });
  });

  const homeCases: { name: string; make: (home: string) => Promise<void>; kind: LinkProblem["kind"] }[] = [
    { name: "home missing", make: async () => undefined, kind: "home-missing" },
    { name: "home is a file", make: (home) => writeFile(home, "not a folder"), kind: "home-not-dir" },
  ];
  for (const c of homeCases) {
    void test(`${c.name}: one problem, nothing created`, async () => {
      const home = path.join(root, "acct");
      await c.make(home);
      const r = await ensureSharedLinks(home, shared);
      assert.deepEqual(r.created, []);
      assert.deepEqual(r.problems.map((p) => [p.kind, p.home]), [[c.kind, home]]);
      assert.deepEqual(await readdir(shared), [], "no shared folder created for a broken home");
    });
  }

  void test("a missing shared root is reported, not created", async () => {
    const home = await newHome();
    const r = await ensureSharedLinks(home, path.join(root, "no-such-root"));
    assert.deepEqual(r.problems.map((p) => p.kind), ["io", "io", "io"]);
    assert.deepEqual(await readdir(home), []);
  });

  void test("concurrent ensures of the same home all succeed and create each link once", async () => {
    const home = await newHome();
    const results = await Promise.all(Array.from({ length: 8 }, () => ensureSharedLinks(home, shared)));
    assert.deepEqual(results.flatMap((r) => r.problems), []);
    assert.equal(results.flatMap((r) => r.created).length, 3);
    await assertAllLinksCorrect(home);
  });
});

void describe("inspectSharedLinks (read-only)", () => {
  void test("reports missing links without creating anything", async () => {
    const home = await newHome();
    const problems = await inspectSharedLinks(home, shared);
    assert.deepEqual(problems.map((p) => p.kind), ["missing", "missing", "missing"]);
    assert.match(problems[0]?.fix ?? "", /^mkdir -m 700 .* && ln -s /);
    assert.deepEqual(await readdir(home), []);
    assert.deepEqual(await readdir(shared), []);
  });

  void test("a correct link whose shared folder is gone is reported, not repaired", async () => {
    const home = await newHome();
    await ensureSharedLinks(home, shared);
    await rm(target("session-env"), { recursive: true });
    const problems = await inspectSharedLinks(home, shared);
    assert.deepEqual(problems.map((p) => [p.kind, p.link]), [["target-missing", target("session-env")]]);
    await assert.rejects(stat(target("session-env")), { code: "ENOENT" });
  });

  const linkTextCases: { name: string; text: (home: string) => string; ok: boolean }[] = [
    { name: "absolute text to the target", text: () => target("projects"), ok: true },
    { name: "relative text resolving to the target", text: () => "../shared/.claude-projects-shared", ok: true },
    { name: "text with a trailing slash and dots", text: () => `${shared}/./.claude-projects-shared/`, ok: true },
    { name: "relative text resolving elsewhere", text: () => "../.claude-projects-shared", ok: false },
    { name: "absolute text to another account's private folder", text: () => path.join(root, "other", "projects"), ok: false },
  ];
  for (const c of linkTextCases) {
    void test(`link text: ${c.name} → ${c.ok ? "correct" : "divergent"}`, async () => {
      const home = await newHome();
      await ensureSharedLinks(home, shared);
      await rm(path.join(home, "projects"));
      await symlink(c.text(home), path.join(home, "projects"));
      const problems = await inspectSharedLinks(home, shared);
      assert.deepEqual(problems.map((p) => p.kind), c.ok ? [] : ["divergent"]);
    });
  }

  void test("a link reaching the target through another link is correct", async () => {
    const home = await newHome();
    await ensureSharedLinks(home, shared);
    const hop = path.join(root, "hop");
    await symlink(target("projects"), hop);
    await rm(path.join(home, "projects"));
    await symlink(hop, path.join(home, "projects"));
    assert.deepEqual(await inspectSharedLinks(home, shared), []);
  });

  void test("problems carry paths only and format to one line with the fix", async () => {
    const home = await newHome();
    await mkdir(path.join(home, "projects"));
    const [p] = await inspectSharedLinks(home, shared);
    assert.ok(p);
    const line = formatLinkProblem(p);
    assert.ok(!line.includes("\n"));
    assert.match(line, /\[not-a-link\]: expected a symlink to .*, found a folder — fix: move the folder's content/);
  });
});

void describe("aggregation across accounts", () => {
  void test("every problem of every account is returned, tagged with the account", async () => {
    // a: divergent + real folder; b: home is a file; c: regular file + divergent relative link.
    const a = await newHome("a");
    await symlink(path.join(root, "nowhere"), path.join(a, "projects"));
    await mkdir(path.join(a, "file-history"));
    const b = path.join(root, "b");
    await writeFile(b, "");
    const c = await newHome("c");
    await writeFile(path.join(c, "session-env"), "");
    await symlink("../x", path.join(c, "file-history"));
    const accounts = [
      { name: "a", home: a },
      { name: "b", home: b },
      { name: "c", home: c },
    ];

    const validated = await validateAllAccounts(accounts, shared);
    const expected = [
      ["a", "divergent", path.join(a, "projects")],
      ["a", "not-a-link", path.join(a, "file-history")],
      ["a", "missing", path.join(a, "session-env")],
      ["b", "home-not-dir", b],
      ["c", "missing", path.join(c, "projects")],
      ["c", "divergent", path.join(c, "file-history")],
      ["c", "not-a-link", path.join(c, "session-env")],
    ];
    assert.deepEqual(validated.map((p) => [p.account, p.kind, p.link]), expected);

    const ensured = await ensureAllAccounts(accounts, shared);
    assert.deepEqual(
      ensured.problems.map((p) => [p.account, p.kind, p.link]),
      expected.filter(([, kind]) => kind !== "missing"),
    );
    assert.deepEqual(ensured.created.sort(), [path.join(a, "session-env"), path.join(c, "projects")].sort());
  });
});

void describe("flipLink", () => {
  void test("creates the link when there is none and returns null", async () => {
    const a = await newHome("a");
    const link = path.join(root, ".claude");
    assert.equal(await flipLink(link, a), null);
    assert.equal(await readlink(link), a);
  });

  void test("flips an existing link and returns the previous target; no temp file is left", async () => {
    const a = await newHome("a");
    const b = await newHome("b");
    const link = path.join(root, ".claude");
    await symlink("a", link); // relative text: the previous target still comes back absolute
    assert.equal(await flipLink(link, b), a);
    assert.equal(await realpath(link), b);
    assert.deepEqual((await readdir(root)).filter((n) => n.includes("flip")), []);
  });

  const refusals: { name: string; make: (link: string) => Promise<void>; code: string }[] = [
    {
      name: "a real folder with data",
      make: async (link) => {
        await mkdir(link);
        await writeFile(path.join(link, ".credentials.json"), "{}");
      },
      code: "CLAUDE_LINK_NOT_SYMLINK",
    },
    { name: "a regular file", make: (link) => writeFile(link, "data"), code: "CLAUDE_LINK_NOT_SYMLINK" },
  ];
  for (const c of refusals) {
    void test(`refuses to replace ${c.name}, which stays as it was`, async () => {
      const a = await newHome("a");
      const link = path.join(root, ".claude");
      await c.make(link);
      const before = await lstat(link);
      await assert.rejects(flipLink(link, a), (e: unknown) => e instanceof LinkError && e.code === c.code);
      const after = await lstat(link);
      assert.equal(after.ino, before.ino);
      assert.ok(!after.isSymbolicLink());
    });
  }

  void test("refuses a target that is not a folder and leaves the link as it was", async () => {
    const a = await newHome("a");
    const link = path.join(root, ".claude");
    await symlink(a, link);
    const file = path.join(root, "file");
    await writeFile(file, "");
    for (const t of [file, path.join(root, "missing")]) {
      await assert.rejects(flipLink(link, t), (e: unknown) => e instanceof LinkError && e.code === "CLAUDE_LINK_TARGET_NOT_DIR");
      assert.equal(await readlink(link), a);
    }
  });

  void test("property: after any sequence of flips the link resolves to the last target and returns the one before", async () => {
    const homes = await Promise.all(["h0", "h1", "h2", "h3"].map((n) => newHome(n)));
    const link = path.join(root, ".claude");
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: homes.length - 1 }), { minLength: 1, maxLength: 12 }), async (picks) => {
        await rm(link, { force: true });
        let expectedPrevious: string | null = null;
        for (const i of picks) {
          const home = homes[i] ?? "";
          assert.equal(await flipLink(link, home), expectedPrevious);
          assert.equal(await realpath(link), home);
          expectedPrevious = home;
        }
      }),
      { numRuns: 40 },
    );
    assert.deepEqual((await readdir(root)).filter((n) => n.includes("flip")), []);
  });
});
