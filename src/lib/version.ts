import { createRequire } from "node:module";

/** The package's version, read from package.json: two folders up from src/lib/ and from dist/lib/ alike. */
export const VERSION: string = (createRequire(import.meta.url)("../../package.json") as { version: string }).version;
