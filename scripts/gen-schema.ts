// Regenerates deploy/config.schema.json from the zod schema: `npm run schema`.
import { writeFileSync } from "node:fs";
import { configJsonSchema } from "../src/config/json-schema.js";

writeFileSync(new URL("../deploy/config.schema.json", import.meta.url), JSON.stringify(configJsonSchema(), null, 2) + "\n");
console.log("wrote deploy/config.schema.json");
