import type { Readable, Writable } from "node:stream";

/** The process's streams and environment, passed in so commands run in-process under test. */
export interface CliIo {
  stdout: Writable;
  stderr: Writable;
  stdin: Readable;
  env: NodeJS.ProcessEnv;
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** Reads a stream to the end, refusing more than `max` bytes. */
export async function readAll(stream: Readable, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    const b = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    size += b.length;
    if (size > max) throw new Error(`input larger than ${max} bytes`);
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}
