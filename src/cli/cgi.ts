// `gw cgi APP`: runs the app once as a CGI program (wsgiref's CGIHandler().run(app)).
import { readFileSync } from "node:fs";
import { textOfBytes } from "../core/environ.ts";
import { CgiHandler } from "../gateway/cgi-handler.ts";
import { loadApp, type AppKind } from "../dev/load.ts";
import type { Io } from "./io.ts";

/**
 * This process's environment with each value's bytes as the web server gave them, decoded as
 * PATH_INFO is (UTF-8 when valid, else one character per byte: docs/SPEC.md §6.3). process.env
 * has already turned bytes that are not UTF-8 into U+FFFD (Apache passes /caf%E9 as the byte
 * 0xE9); Linux keeps the bytes in /proc/self/environ. Elsewhere, process.env as it is.
 */
function environmentBytes(fallback: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  let raw: Buffer;
  try {
    raw = readFileSync("/proc/self/environ");
  } catch {
    return fallback;
  }
  const env: NodeJS.ProcessEnv = {};
  let start = 0;
  while (start < raw.length) {
    let end = raw.indexOf(0, start);
    if (end === -1) end = raw.length;
    const equals = raw.indexOf(0x3d, start);
    if (equals > start && equals < end) env[raw.toString("latin1", start, equals)] = textOfBytes(raw.subarray(equals + 1, end));
    start = end + 1;
  }
  return env;
}

/** Runs the app over this process's environment and stdio; resolves to 0 once the response is written. */
export async function runCgi(spec: string, io: Io, kind: AppKind = "auto"): Promise<number> {
  const { app } = await loadApp(spec, io.cwd, kind);
  const handler = new CgiHandler({ env: io.env === process.env ? environmentBytes(io.env) : io.env });
  await handler.run(app);
  return 0;
}
