// The access log and ready line in http.server's formats (BaseHTTPRequestHandler.log_message,
// log_date_time_string) and the `python -m http.server` banner.
import type { TextSink } from "./input.ts";

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

function pad(value: number): string {
  return value < 10 ? `0${value}` : String(value);
}

/** The local time as http.server logs it: "21/Nov/2026 13:09:29". */
export function logDate(date: Date = new Date()): string {
  return `${pad(date.getDate())}/${MONTHS[date.getMonth()]}/${date.getFullYear()} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

// Python's http.server escapes C0 and C1 controls as \xNN so a request cannot forge log lines,
// and a backslash as \\, so that a literal "\x1b" in a request is not read as an escaped ESC.
const HAS_CONTROL = /[\x00-\x1f\x7f-\x9f\\]/;
const CONTROL = /[\x00-\x1f\x7f-\x9f\\]/g;

/** Escapes control characters in text from the client as `\xNN`, and a backslash as `\\`. */
export function escapeControl(text: string): string {
  return HAS_CONTROL.test(text) ? text.replace(CONTROL, (char) => (char === "\\" ? "\\\\" : `\\x${char.charCodeAt(0).toString(16).padStart(2, "0")}`)) : text;
}

/**
 * One access-log line: `127.0.0.1 - - [21/Nov/2026 13:09:29] "GET / HTTP/1.1" 200 13`, newline
 * included; an authenticated user's name takes the second "-" (the common log format's authuser).
 */
export function formatAccessLine(remote: string, requestLine: string, status: number | string, size: number | string, date: string = logDate(), user?: string): string {
  const who = user === undefined || user === "" ? "-" : escapeControl(user).replaceAll(" ", "\\x20");
  return `${remote} - ${who} [${date}] "${escapeControl(requestLine)}" ${status} ${size}\n`;
}

/** The ready line: `Serving HTTP on 127.0.0.1 port 8000 (http://127.0.0.1:8000/) ...` (HTTPS and https:// over TLS). */
export function readyLine(host: string, port: number, scheme: "http" | "https" = "http"): string {
  const urlHost = host.includes(":") ? `[${host}]` : host;
  return `Serving ${scheme.toUpperCase()} on ${host} port ${port} (${scheme}://${urlHost}:${port}/) ...`;
}

/**
 * Writes access-log lines to a stream. Lines of one event-loop turn are joined into one write,
 * and the date string is made once a second, so logging costs little under load.
 */
export class AccessLog {
  readonly #sink: TextSink;
  readonly #decorate: ((line: string, status: number | string) => string) | undefined;
  #pending = "";
  #isScheduled = false;
  #second = -1;
  #date = "";
  readonly #flush = (): void => {
    this.#isScheduled = false;
    const text = this.#pending;
    this.#pending = "";
    if (text !== "") this.#sink.write(text);
  };

  /** `decorate` may restyle each line (colour by status on a terminal); it gets the line without its newline. */
  constructor(sink: TextSink, decorate?: (line: string, status: number | string) => string) {
    this.#sink = sink;
    this.#decorate = decorate;
  }

  /** Logs one request. */
  log(remote: string, requestLine: string, status: number | string, size: number | string, user?: string): void {
    const now = Date.now();
    const second = Math.floor(now / 1000);
    if (second !== this.#second) {
      this.#second = second;
      this.#date = logDate(new Date(now));
    }
    const line = formatAccessLine(remote, requestLine, status, size, this.#date, user);
    this.#pending += this.#decorate === undefined ? line : this.#decorate(line.slice(0, -1), status) + "\n";
    if (!this.#isScheduled) {
      this.#isScheduled = true;
      setImmediate(this.#flush);
    }
  }

  /** Writes what is pending now (before exit). */
  flush(): void {
    this.#flush();
  }
}
