import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { parseDocument } from "yaml";
import { parseConfigText } from "./loader.js";
import { configJsonSchema } from "./json-schema.js";

const root = new URL("../../", import.meta.url);

test("deploy/config.example.yaml is a valid config", async () => {
  const text = await readFile(new URL("deploy/config.example.yaml", root), "utf8");
  const c = parseConfigText(text, "/etc/claude-failover/config.yaml", "/home/op");
  assert.deepEqual(c.accounts.map((a) => a.name), ["main", "backup"]);
});

test("deploy/config.example.yaml names every key of the schema", async () => {
  const text = await readFile(new URL("deploy/config.example.yaml", root), "utf8");
  const example = parseDocument(text).toJS() as Record<string, unknown>;
  const missing: string[] = [];
  // Walks the JSON Schema's object properties and checks each appears in the example (or, for optional keys, in a comment).
  const walk = (schema: Record<string, unknown>, value: unknown, prefix: string): void => {
    const props = (schema.properties ?? {}) as Record<string, Record<string, unknown>>;
    for (const [key, sub] of Object.entries(props)) {
      const here = value && typeof value === "object" ? (value as Record<string, unknown>)[key] : undefined;
      if (here === undefined && !text.includes(`${key}:`)) missing.push(`${prefix}${key}`);
      if (sub.type === "object" && sub.properties) walk(sub, here, `${prefix}${key}.`);
    }
  };
  walk(configJsonSchema(), example, "");
  assert.deepEqual(missing, []);
});

test("deploy/config.schema.json is what `npm run schema` generates", async () => {
  const committed = JSON.parse(await readFile(new URL("deploy/config.schema.json", root), "utf8")) as unknown;
  assert.deepEqual(committed, JSON.parse(JSON.stringify(configJsonSchema())));
});
