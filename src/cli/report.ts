// The one place that turns errors into terminal output: user errors as one line, app errors
// with their stack, gw bugs with a full trace and a request to report them.
import { AppLoadError, UserError } from "../core/errors.ts";
import type { Io } from "./io.ts";
import { colorsFor } from "./style.ts";

/** Writes `error` to io.stderr in the form its kind calls for and returns the exit code, 1. */
export function report(error: unknown, io: Io): number {
  const pc = colorsFor(io);
  if (error instanceof UserError) {
    io.stderr.write(`${pc.red("gw:")} ${error.message}\n`);
    return 1;
  }
  if (error instanceof AppLoadError) {
    const cause = error.cause;
    const trace = cause instanceof Error ? (cause.stack ?? cause.message) : String(cause);
    io.stderr.write(`${pc.red("gw:")} ${error.message}\n${pc.dim(trace)}\n`);
    return 1;
  }
  const trace = error instanceof Error ? (error.stack ?? error.message) : String(error);
  io.stderr.write(`${pc.red("gw: internal error")} (please report it)\n${trace}\n`);
  return 1;
}
