// Runs one request on a handler for a transport that must never throw (a request listener, a
// socket's data event): the response goes on, and only a double fault is reported, not thrown.
import type { BaseHandler } from "./base-handler.ts";
import type { AnyApp, ErrorStream } from "../core/types.ts";

/**
 * Runs `app` on `handler`; true when the response goes on asynchronously. A handler rethrows
 * only on a double fault (an error while sending the 500 for another), which must not escape a
 * request listener and bring the process down.
 */
export function runHandler(handler: BaseHandler, app: AnyApp, errors: ErrorStream): boolean {
  // No closure over `errors` unless the response goes async: this runs once a request.
  try {
    const running = handler.run(app);
    if (running !== undefined) {
      running.catch((error: unknown) => reportInternalError(errors, error));
      return true;
    }
  } catch (error) {
    reportInternalError(errors, error);
  }
  return false;
}

function reportInternalError(errors: ErrorStream, error: unknown): void {
  errors.write(`gw: internal error while handling a request (please report it)\n${error instanceof Error ? error.stack : String(error)}\n`);
}
