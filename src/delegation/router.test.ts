import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { coerceBoolean } from "../queue/task.js";
import { explainRoute, hasRoutingFields, type Route } from "./router.js";

type Case = [name: string, frontmatter: Record<string, unknown>, route: Route, rule: number];

// Each pair (i, j) of rules that can both match: the lower-numbered rule wins. (2 vs 4/5 and 4 vs 5 cannot
// both match: preferred_ai holds one value.)
const precedence: Case[] = [
  ["1 over 2", { needs_claude_code: true, preferred_ai: "claude-code" }, "local", 1],
  ["1 over 3", { needs_claude_code: true, allow_delegation: false }, "local", 1],
  ["1 over 4", { needs_claude_code: true, allow_delegation: true, preferred_ai: "gpu" }, "local", 1],
  ["1 over 5", { needs_claude_code: true, allow_delegation: true, preferred_ai: "quantum" }, "local", 1],
  ["2 over 3", { preferred_ai: "claude-code" }, "local", 2],
  ["2 with delegation allowed", { preferred_ai: "claude-code", allow_delegation: true }, "local", 2],
  ["3 over 4 (false)", { allow_delegation: false, preferred_ai: "gpu" }, "local", 3],
  ["3 over 4 (absent)", { preferred_ai: "gemini" }, "local", 3],
  ["3 over 5", { preferred_ai: "quantum" }, "local", 3],
  ["4 when needs_claude_code is false", { needs_claude_code: false, allow_delegation: true, preferred_ai: "gpu" }, "gpu", 4],
  ["5: preferred_ai missing", { allow_delegation: true }, "local", 5],
  ["5: preferred_ai unknown", { allow_delegation: true, preferred_ai: "gpt" }, "local", 5],
  ["no fields at all", {}, "local", 3],
];

const providers: Case[] = (["gpu", "gemini", "claude-api", "auto"] as const).map((p) => [`provider ${p}`, { allow_delegation: true, preferred_ai: p }, p, 4]);

const coercion: Case[] = [
  ...(["true", "yes", "YES", " on ", "1", "y", 1] as const).map((v): Case => [`needs_claude_code ${JSON.stringify(v)} is true`, { needs_claude_code: v, allow_delegation: true, preferred_ai: "gpu" }, "local", 1]),
  ...(["false", "no", "Off", "0", 0, false] as const).map((v): Case => [`needs_claude_code ${JSON.stringify(v)} is false`, { needs_claude_code: v, allow_delegation: true, preferred_ai: "gpu" }, "gpu", 4]),
  ["needs_claude_code null is absent", { needs_claude_code: null, allow_delegation: true, preferred_ai: "gpu" }, "gpu", 4],
  ["needs_claude_code unrecognised fails safe", { needs_claude_code: "maybe", allow_delegation: true, preferred_ai: "gpu" }, "local", 1],
  ["needs_claude_code 2 fails safe", { needs_claude_code: 2, allow_delegation: true, preferred_ai: "gpu" }, "local", 1],
  ...(["true", "Yes", "on", "1", 1, " TRUE "] as const).map((v): Case => [`allow_delegation ${JSON.stringify(v)} allows`, { allow_delegation: v, preferred_ai: "auto" }, "auto", 4]),
  ...(["false", "no", 0, "maybe", 2, null, ["yes"], { yes: true }] as const).map((v): Case => [`allow_delegation ${JSON.stringify(v)} does not allow`, { allow_delegation: v, preferred_ai: "auto" }, "local", 3]),
  ["preferred_ai trimmed and lower-cased", { allow_delegation: true, preferred_ai: "  GPU " }, "gpu", 4],
  ["preferred_ai Claude-API", { allow_delegation: true, preferred_ai: "Claude-API" }, "claude-api", 4],
  ["preferred_ai CLAUDE-CODE is local", { allow_delegation: true, preferred_ai: "CLAUDE-CODE" }, "local", 2],
  ["preferred_ai a number never delegates", { allow_delegation: true, preferred_ai: 1 }, "local", 5],
  ["preferred_ai a list never delegates", { allow_delegation: true, preferred_ai: ["gpu"] }, "local", 5],
  ["preferred_ai claude_code (underscore) is unknown", { allow_delegation: true, preferred_ai: "claude_code" }, "local", 5],
  ["preferred_ai empty", { allow_delegation: true, preferred_ai: "" }, "local", 5],
];

describe("explainRoute: contract §8 routing matrix", () => {
  for (const [name, fm, route, rule] of [...precedence, ...providers, ...coercion]) {
    test(name, () => {
      const d = explainRoute(fm);
      assert.deepEqual([d.route, d.rule], [route, rule], d.reason);
    });
  }

  test("inherited keys are not fields", () => {
    const fm = Object.create({ allow_delegation: true, preferred_ai: "gpu" }) as Record<string, unknown>;
    assert.equal(explainRoute(fm).route, "local");
  });

  test("the reason names the rule that decided", () => {
    assert.match(explainRoute({ preferred_ai: "gpu" }).reason, /allow_delegation is absent/);
    assert.match(explainRoute({ allow_delegation: true, preferred_ai: "gpt" }).reason, /unknown value "gpt"/);
  });

  test("property: a provider only when allowed, named, and not needing Claude Code", () => {
    const value = fc.oneof(fc.boolean(), fc.integer({ min: -2, max: 3 }), fc.constantFrom("true", "no", "yes", "on", "1", "0", "x", " GPU", "gemini", "claude-code", "auto", "claude-api"), fc.constant(null));
    fc.assert(fc.property(fc.record({ needs_claude_code: value, allow_delegation: value, preferred_ai: value }, { requiredKeys: [] }), (fm) => {
      const route = explainRoute(fm).route;
      const needs = fm.needs_claude_code === undefined || fm.needs_claude_code === null ? false : coerceBoolean(fm.needs_claude_code) ?? true;
      const preferred = typeof fm.preferred_ai === "string" ? fm.preferred_ai.trim().toLowerCase() : undefined;
      const expected = !needs && coerceBoolean(fm.allow_delegation) === true && ["gpu", "gemini", "claude-api", "auto"].includes(preferred ?? "") ? preferred : "local";
      assert.equal(route, expected);
    }));
  });
});

describe("hasRoutingFields", () => {
  for (const [fm, expected] of [
    [{}, false],
    [{ title: "x", priority: "high" }, false],
    [{ complexity_hint: "low" }, true],
    [{ allow_delegation: false }, true],
    [{ preferred_ai: null }, false],
  ] as const) {
    test(`${JSON.stringify(fm)} → ${expected}`, () => assert.equal(hasRoutingFields(fm), expected));
  }
});
