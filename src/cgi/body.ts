// A request body read whole before its CGI script starts (lighttpd's way with chunked uploads):
// RFC 3875 §4.1.2 wants CONTENT_LENGTH with every body, and a slow upload must not hold a script slot.
import { openSync, closeSync, unlinkSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A body kept in memory up to this many bytes, then in a temporary file. */
export const MEMORY_LIMIT: number = 1024 * 1024;

let spoolCount = 0;

/** A whole request body: its bytes in memory, or an open file descriptor on an unlinked temp file. */
export type SpooledBody =
  | { kind: "memory"; length: number; chunks: Uint8Array[] }
  | { kind: "file"; length: number; fd: number };

/** Why a body could not be read whole. */
export type SpoolFailure = "too-large" | "timeout" | "aborted";

/** Parses a size like "1G", "512M", "64k" or "1000" into bytes; undefined when it is not one. */
export function parseSize(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)([kKmMgG]?)i?[bB]?$/.exec(text.trim());
  if (match === null) return undefined;
  const unit = match[2]!.toLowerCase();
  const factor = unit === "k" ? 1024 : unit === "m" ? 1024 ** 2 : unit === "g" ? 1024 ** 3 : 1;
  return Math.floor(Number(match[1]) * factor);
}

/** Closes the temporary file of a spooled body (already unlinked, so nothing is left on disk). */
export function releaseBody(body: SpooledBody | undefined): void {
  if (body?.kind !== "file" || body.fd < 0) return;
  try {
    closeSync(body.fd);
  } catch {
    // Closed already: a second release is harmless.
  }
  body.fd = -1;
}

/**
 * Reads `input` to its end. Up to MEMORY_LIMIT bytes stay in memory; beyond that they go to a
 * temp file that is unlinked as soon as it is open, so it vanishes with the descriptor whatever
 * happens (script failure, client abort, a crash). More than `maxBytes` gives "too-large";
 * `idleMs` without a byte gives "timeout"; an input that fails gives "aborted".
 */
export async function spoolBody(input: AsyncIterable<Uint8Array>, maxBytes: number, idleMs: number): Promise<SpooledBody | SpoolFailure> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  let writeFd = -1;
  let readFd = -1;
  const iterator = input[Symbol.asyncIterator]();
  let timer: NodeJS.Timeout | undefined;
  const fail = (why: SpoolFailure): SpoolFailure => {
    if (readFd >= 0) closeSync(readFd);
    // Stop reading; the handler deals with what the client still sends.
    void iterator.return?.().catch(() => undefined);
    return why;
  };
  try {
    for (;;) {
      const idle = new Promise<"timeout">((resolve) => (timer = setTimeout(resolve, idleMs, "timeout")));
      let step: IteratorResult<Uint8Array> | "timeout";
      try {
        step = await Promise.race([iterator.next(), idle]);
      } catch {
        return fail("aborted");
      } finally {
        clearTimeout(timer);
      }
      if (step === "timeout") return fail("timeout");
      if (step.done === true) break;
      const chunk = step.value;
      length += chunk.byteLength;
      if (length > maxBytes) return fail("too-large");
      if (writeFd < 0) {
        chunks.push(chunk);
        if (length <= MEMORY_LIMIT) continue;
        // Opened with "wx": a name taken by anyone else is an error, never a shared file.
        const path = join(tmpdir(), `gw-cgi-body-${process.pid}-${++spoolCount}-${Date.now().toString(36)}`);
        writeFd = openSync(path, "wx", 0o600);
        try {
          readFd = openSync(path, "r");
        } finally {
          unlinkSync(path);
        }
        for (const held of chunks.splice(0)) writeAll(writeFd, held);
        continue;
      }
      // Synchronous writes keep one chunk in memory at a time; the page cache absorbs them.
      writeAll(writeFd, chunk);
    }
  } finally {
    if (writeFd >= 0) closeSync(writeFd);
  }
  return readFd >= 0 ? { kind: "file", length, fd: readFd } : { kind: "memory", length, chunks };
}

function writeAll(fd: number, data: Uint8Array): void {
  for (let at = 0; at < data.byteLength;) at += writeSync(fd, data, at, data.byteLength - at);
}
