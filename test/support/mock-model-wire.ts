/**
 * The wire side of the mock model API: the Anthropic SSE event sequence, error bodies, request
 * bodies and what the CLI puts in them. Kept apart from the scripting in mock-model-api.ts.
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

export const hex = (n: number): string => randomBytes(n).toString("hex");

export interface MockUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

export type ContentBlock = { type: "text"; text: string } | { type: "tool_use"; id: string; name: string; input: Record<string, unknown> };

export function blocksLength(blocks: ContentBlock[]): number {
  return blocks.reduce((n, b) => n + (b.type === "text" ? b.text.length : JSON.stringify(b.input).length), 0);
}

/** Writes one message as the Anthropic SSE event sequence. */
export function streamMessage(
  res: ServerResponse,
  m: { blocks: ContentBlock[]; usage: MockUsage; stopReason: string; headers: Record<string, string>; model: string },
): void {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive", ...m.headers });
  const send = (event: string, data: unknown): void => {
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  send("message_start", {
    type: "message_start",
    message: {
      id: `msg_mock${hex(12)}`, type: "message", role: "assistant", model: m.model, content: [],
      stop_reason: null, stop_sequence: null, usage: { ...m.usage, output_tokens: 1 },
    },
  });
  send("ping", { type: "ping" });
  m.blocks.forEach((block, index) => {
    if (block.type === "text") {
      send("content_block_start", { type: "content_block_start", index, content_block: { type: "text", text: "" } });
      for (const piece of splitInThree(block.text)) send("content_block_delta", { type: "content_block_delta", index, delta: { type: "text_delta", text: piece } });
    } else {
      send("content_block_start", { type: "content_block_start", index, content_block: { type: "tool_use", id: block.id, name: block.name, input: {} } });
      for (const piece of splitInThree(JSON.stringify(block.input))) send("content_block_delta", { type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: piece } });
    }
    send("content_block_stop", { type: "content_block_stop", index });
  });
  send("message_delta", { type: "message_delta", delta: { stop_reason: m.stopReason, stop_sequence: null }, usage: { output_tokens: m.usage.output_tokens } });
  send("message_stop", { type: "message_stop" });
  res.end();
}

function splitInThree(text: string): string[] {
  if (text.length < 3) return [text];
  const a = Math.floor(text.length / 3);
  return [text.slice(0, a), text.slice(a, 2 * a), text.slice(2 * a)];
}

export function apiError(type: string, message: string, requestId = `req_mock${hex(12)}`): unknown {
  return { type: "error", error: { type, message }, request_id: requestId };
}

export function sendJson(res: ServerResponse, status: number, json: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(json);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** The body as text, or undefined when it exceeds `max` bytes. */
export function readBody(req: IncomingMessage, max: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) tooBig = true;
      else chunks.push(chunk);
    });
    req.on("end", () => resolve(tooBig ? undefined : Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

export function parseBody(raw: string): unknown {
  if (raw === "") return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function lastUserMessage(body: unknown): Record<string, unknown> | undefined {
  if (!isRecord(body) || !Array.isArray(body.messages)) return undefined;
  for (let i = body.messages.length - 1; i >= 0; i--) {
    const m: unknown = body.messages[i];
    if (isRecord(m) && m.role === "user") return m;
  }
  return undefined;
}

/** The text blocks of the last user message, leaving out the `<system-reminder>` blocks the CLI adds. */
export function userTexts(body: unknown): string[] {
  const m = lastUserMessage(body);
  if (!m) return [];
  if (typeof m.content === "string") return [m.content];
  if (!Array.isArray(m.content)) return [];
  return m.content
    .filter((b): b is { type: "text"; text: string } => isRecord(b) && b.type === "text" && typeof b.text === "string")
    .map((b) => b.text)
    .filter((t) => !t.trimStart().startsWith("<system-reminder>"))
    .map(unwrapPasted);
}

const PASTED = /\n*<pasted_content id="[^"]{1,64}">\n?([\s\S]*?)\n?<\/pasted_content>\n*/g;

/**
 * The prompt as typed: 2.1.332 sends a big paste to the model wrapped in `<pasted_content id="…">…</pasted_content>`
 * (2.1.197 sent it raw). Rules, markers and tests match the text the operator wrote, whichever version sent it.
 */
export function unwrapPasted(text: string): string {
  return text.includes("<pasted_content") ? text.replace(PASTED, "$1") : text;
}

/** The JSON schema a request asks its output to follow (`output_config.format`), if any. */
export function jsonSchemaOf(body: unknown): Record<string, unknown> | undefined {
  const config = isRecord(body) && isRecord(body.output_config) ? body.output_config : undefined;
  const format = config && isRecord(config.format) ? config.format : undefined;
  if (!format || format.type !== "json_schema") return undefined;
  return isRecord(format.schema) ? format.schema : {};
}

/** A sensible text for a side request: JSON matching its schema when it asks for JSON. */
export function sideReplyText(body: unknown): string {
  const schema = jsonSchemaOf(body);
  return schema === undefined ? "Mock session title" : JSON.stringify(instanceOf(schema, 0));
}

/** A minimal value satisfying a JSON schema (object, string, number, boolean, array, enum, const). */
export function instanceOf(schema: unknown, depth: number): unknown {
  if (!isRecord(schema) || depth > 8) return null;
  if ("const" in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0] as unknown;
  const type = Array.isArray(schema.type) ? (schema.type[0] as unknown) : schema.type;
  switch (type) {
    case "object": {
      const out: Record<string, unknown> = {};
      const props = isRecord(schema.properties) ? schema.properties : {};
      for (const [key, sub] of Object.entries(props)) out[key] = key === "title" ? "Mock session title" : instanceOf(sub, depth + 1);
      return out;
    }
    case "string":
      return "mock";
    case "integer":
    case "number":
      return 0;
    case "boolean":
      return false;
    case "array":
      return [];
    default:
      return null;
  }
}
