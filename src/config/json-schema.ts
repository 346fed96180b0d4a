import { z } from "zod";
import { configSchema } from "./schema.js";

/** The JSON Schema (draft 2020-12) of the config file, for editors; generated from the zod schema. */
export function configJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(configSchema, { io: "input", unrepresentable: "any" }),
    title: "claude-failover configuration",
  };
}
