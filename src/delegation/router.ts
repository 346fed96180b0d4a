import { coerceBoolean } from "../queue/task.js";
import { clipText } from "../lib/clip.js";

/** Where a task runs: a local Claude Code session, or one of the remote service's providers. */
export type Route = "local" | DelegatedProvider;
export type DelegatedProvider = "gpu" | "gemini" | "claude-api" | "auto";
export const DELEGATED_PROVIDERS: readonly DelegatedProvider[] = ["gpu", "gemini", "claude-api", "auto"];

/** The frontmatter fields that take part in routing; a task with none of them is a plain local task. */
export const ROUTING_FIELDS = ["needs_claude_code", "preferred_ai", "allow_delegation", "complexity_hint"] as const;

export interface RouteDecision {
  route: Route;
  /** Which contract §8 rule decided (1–5). */
  rule: 1 | 2 | 3 | 4 | 5;
  /** One line for an operator: why this route. */
  reason: string;
}

/**
 * Contract §8 routing, strict precedence, first match wins:
 * 1. `needs_claude_code: true` → local; 2. `preferred_ai: claude-code` → local; 3. `allow_delegation` absent or
 * false → local; 4. `preferred_ai` in gpu|gemini|claude-api|auto → that provider; 5. anything else → local.
 * Pure: reads the frontmatter as YAML gave it, booleans and strings coerced leniently; every value it does not
 * recognise routes local (fail-safe), never to a provider.
 */
export function explainRoute(frontmatter: Readonly<Record<string, unknown>>): RouteDecision {
  const needs = given(frontmatter, "needs_claude_code");
  if (needs !== undefined) {
    const b = coerceBoolean(needs);
    if (b === true) return { route: "local", rule: 1, reason: "needs_claude_code is true" };
    // A value we cannot read may well mean "yes": running locally is the safe reading.
    if (b === undefined) return { route: "local", rule: 1, reason: `needs_claude_code has an unrecognised value ${show(needs)}; read as true to stay safe` };
  }
  const preferred = normalise(given(frontmatter, "preferred_ai"));
  if (preferred === "claude-code") return { route: "local", rule: 2, reason: "preferred_ai is claude-code" };
  const allow = coerceBoolean(given(frontmatter, "allow_delegation"));
  if (allow !== true) {
    const raw = given(frontmatter, "allow_delegation");
    const why = raw === undefined ? "allow_delegation is absent (default false)" : allow === false ? "allow_delegation is false" : `allow_delegation has an unrecognised value ${show(raw)}`;
    return { route: "local", rule: 3, reason: why };
  }
  if (preferred !== undefined && (DELEGATED_PROVIDERS as readonly string[]).includes(preferred)) {
    return { route: preferred as DelegatedProvider, rule: 4, reason: `allow_delegation is true and preferred_ai is ${preferred}` };
  }
  const raw = given(frontmatter, "preferred_ai");
  return {
    route: "local",
    rule: 5,
    reason: raw === undefined ? "preferred_ai is absent: no provider to delegate to" : `preferred_ai has an unknown value ${show(raw)} (known: claude-code, ${DELEGATED_PROVIDERS.join(", ")})`,
  };
}

/** True when the frontmatter sets at least one routing field (`ccl-delegate submit` refuses a task with none). */
export function hasRoutingFields(frontmatter: Readonly<Record<string, unknown>>): boolean {
  return ROUTING_FIELDS.some((k) => given(frontmatter, k) !== undefined);
}

// `field:` with no value is YAML null: absent, as the queue reads it. Own keys only (no prototype lookups).
function given(fm: Readonly<Record<string, unknown>>, key: string): unknown {
  return Object.hasOwn(fm, key) ? (fm[key] ?? undefined) : undefined;
}

function normalise(value: unknown): string | undefined {
  return typeof value === "string" ? value.trim().toLowerCase() : undefined;
}

function show(value: unknown): string {
  const s = JSON.stringify(value) ?? String(value);
  return clipText(s, 40);
}
