// Reads the header block a CGI script prints before its body (RFC 3875 §6): Status, Content-Type,
// Location and other fields, or an nph- script's own status line, checked before anything is sent.
import { BAD_FIELD_VALUE, isHopByHop, isTokenChar } from "../core/http-syntax.ts";
import type { HeaderPair } from "../core/types.ts";

// node:http by getBuiltinModule, not import: see docs/ARCHITECTURE.md, "Startup".
const { STATUS_CODES } = process.getBuiltinModule("node:http");

/** A complete, valid header block. */
export interface CgiHead {
  /** The status line to send, like "200 OK". */
  status: string;
  /** The header fields to pass on (without Status, and without hop-by-hop fields). */
  headers: HeaderPair[];
  /** A Location that is a local path (RFC 3875 §6.2.2): the server answers it itself. */
  localRedirect: string | undefined;
  /** Where the body starts in the bytes given. */
  bodyStart: number;
  /** The script's own Content-Length, or -1. */
  contentLength: number;
}

/** Why a script's output is not a CGI response. */
export interface CgiHeadError {
  error: string;
}

/** parseCgiHead's answer: the head, an error, or "more" while the block is still incomplete. */
export type CgiHeadResult = CgiHead | CgiHeadError | "more";

/** The most bytes a header block may take. */
export const HEAD_LIMIT: number = 64 * 1024;

const STATUS = /^([1-5]\d\d)(?:[ \t]+(.*))?$/;
const NPH_STATUS_LINE = /^HTTP\/\d\.\d[ \t]+([1-5]\d\d)(?:[ \t]+(.*))?$/;

/**
 * Whether `text` can still start a header field: token characters up to a colon. Used to turn
 * away output that is not a header block (HTML, plain text) on its first bytes.
 */
function canStartField(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x3a) return i > 0;
    if (!isTokenChar(code)) return false;
  }
  return true;
}

function statusOf(code: string, reason: string | undefined): string {
  const text = reason?.trim() || STATUS_CODES[Number(code)] || "Unknown";
  return `${code} ${text}`;
}

/**
 * Parses the header block at the start of `data`. Lines end in LF or CRLF; the block ends at the
 * first empty line. A CGI script must start with a header field; an nph- script (`isNph`) with an
 * HTTP status line, and its fields are passed on as they are, with no Status or Location handling.
 */
export function parseCgiHead(data: Uint8Array, isNph: boolean = false): CgiHeadResult {
  const buffer = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buffer.length === 0) return "more";
  const firstEnd = buffer.indexOf(0x0a);
  if (!isNph) {
    const first = buffer.subarray(0, firstEnd === -1 ? Math.min(buffer.length, 256) : firstEnd).toString("latin1");
    if (first === "" || first === "\r") return { error: "its output starts with an empty line, not a header block" };
    if (!canStartField(first)) return { error: `its output does not start with a header block (first bytes: ${JSON.stringify(first.slice(0, 40))})` };
  } else if (buffer.length >= 5 && !buffer.subarray(0, 5).equals(Buffer.from("HTTP/"))) {
    return { error: "an nph- script must start with an HTTP status line" };
  }
  let end = -1;
  for (let at = firstEnd; at !== -1; at = buffer.indexOf(0x0a, at + 1)) {
    const next = buffer[at + 1];
    if (next === 0x0a) {
      end = at + 2;
      break;
    }
    if (next === 0x0d && buffer[at + 2] === 0x0a) {
      end = at + 3;
      break;
    }
    if (next === undefined || (next === 0x0d && at + 2 >= buffer.length)) break;
  }
  if ((end === -1 ? buffer.length : end) > HEAD_LIMIT) return { error: `its header block is larger than ${HEAD_LIMIT} bytes` };
  if (end === -1) return "more";

  const lines = buffer.subarray(0, end).toString("latin1").split("\n");
  lines.length -= 2; // the empty line, and what follows its LF
  let status: string | undefined;
  if (isNph) {
    const match = NPH_STATUS_LINE.exec(lines.shift()!.replace(/\r$/, ""));
    if (match === null) return { error: "an nph- script must start with an HTTP status line" };
    status = statusOf(match[1]!, match[2]);
  }
  const fields: HeaderPair[] = [];
  for (const raw of lines) {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (line.charCodeAt(0) === 0x20 || line.charCodeAt(0) === 0x09) {
      // An obsolete folded line continues the previous field's value.
      const previous = fields.at(-1);
      if (previous === undefined) return { error: "its header block starts with a folded line" };
      previous[1] += " " + line.trim();
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0 || !canStartField(line.slice(0, colon + 1))) return { error: `it printed a malformed header line: ${JSON.stringify(line.slice(0, 80))}` };
    fields.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }

  const headers: HeaderPair[] = [];
  let location: string | undefined;
  let contentLength: string | undefined;
  for (const field of fields) {
    const [name, value] = field;
    if (BAD_FIELD_VALUE.test(value)) return { error: `its ${name} header holds a control character` };
    const lower = name.toLowerCase();
    // The framing is the server's: a script's own Transfer-Encoding, or two Content-Lengths that
    // disagree, would make the response read differently by different clients.
    if (lower === "transfer-encoding") return { error: "it printed a Transfer-Encoding header (the server frames the body)" };
    if (lower === "content-length") {
      if (!/^\d{1,15}$/.test(value)) return { error: `its Content-Length is not a number: ${JSON.stringify(value)}` };
      if (contentLength !== undefined && contentLength !== value) return { error: "it printed two different Content-Length headers" };
      if (contentLength !== undefined) continue;
      contentLength = value;
    }
    if (isHopByHop(name)) continue; // The connection is the server's, not the script's.
    if (!isNph && lower === "status") {
      if (status !== undefined) return { error: "it printed two Status headers" };
      const match = STATUS.exec(value);
      if (match === null) return { error: `its Status header is not a 3-digit code and a reason: ${JSON.stringify(value)}` };
      status = statusOf(match[1]!, match[2]);
      continue;
    }
    if (!isNph && lower === "location") {
      if (location !== undefined) return { error: "it printed two Location headers" };
      location = value;
    }
    headers.push(field);
  }
  let localRedirect: string | undefined;
  if (!isNph && location !== undefined) {
    // RFC 3875 §6.2.2: a path (not "//host") with no status of its own is answered by the server.
    if (location.startsWith("/") && !location.startsWith("//") && (status === undefined || status.startsWith("200 "))) {
      localRedirect = location;
    } else {
      status ??= "302 Found";
    }
  }
  // A 1xx is never a final answer: sent as one, the body would be read as the next response.
  if (status !== undefined && status.charCodeAt(0) === 0x31) return { error: `its final status is ${status}, an interim (1xx) status` };
  return { status: status ?? "200 OK", headers, localRedirect, bodyStart: end, contentLength: contentLength === undefined ? -1 : Number(contentLength) };
}
