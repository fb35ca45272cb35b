// `gw cgi APP`: runs the app once as a CGI program (wsgiref's CGIHandler().run(app)).
import { readFileSync } from "node:fs";
import { textOfBytes } from "../core/environ.ts";
import { CgiHandler } from "../gateway/cgi-handler.ts";
import { loadApp, type AppKind } from "../dev/load.ts";
import type { Io } from "./io.ts";

/**
 * This process's environment, with the bytes the web server gave where process.env lost them:
 * node turns bytes that are not UTF-8 into U+FFFD (Apache passes /caf%E9 as the byte 0xE9), and
 * Linux keeps the bytes in /proc/self/environ. Such a value is decoded as PATH_INFO is (UTF-8
 * when valid, else one character per byte: docs/SPEC.md §6.3); every other value, and what
 * process.env has that the file does not (node --env-file), stays as process.env has it.
 */
function environmentBytes(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  let raw: Buffer;
  try {
    raw = readFileSync("/proc/self/environ");
  } catch {
    return env;
  }
  const fixed: NodeJS.ProcessEnv = { ...env };
  let start = 0;
  while (start < raw.length) {
    let end = raw.indexOf(0, start);
    if (end === -1) end = raw.length;
    const equals = raw.indexOf(0x3d, start);
    if (equals > start && equals < end) {
      const name = raw.toString("latin1", start, equals);
      if (fixed[name]?.includes("\ufffd") === true) fixed[name] = textOfBytes(raw.subarray(equals + 1, end));
    }
    start = end + 1;
  }
  return fixed;
}

/** Runs the app over this process's environment and stdio; resolves to 0 once the response is written. */
export async function runCgi(spec: string, io: Io, kind: AppKind = "auto"): Promise<number> {
  const { app } = await loadApp(spec, io.cwd, kind);
  const handler = new CgiHandler({ env: io.env === process.env ? environmentBytes(io.env) : io.env });
  await handler.run(app);
  return 0;
}
