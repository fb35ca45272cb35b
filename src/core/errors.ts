// The error classes gw throws, kept apart so callers can tell them with instanceof.

/** A mistake of the person running gw (bad flag, missing file, port in use): shown as one line. */
export class UserError extends Error {
  override name = "UserError";
}

/** An app (or server) broke the gateway interface, e.g. a second startResponse without excInfo. */
export class ProtocolError extends Error {
  override name = "ProtocolError";
}

/** The app or middleware failed a validator check; the message names the rule. */
export class ValidationError extends ProtocolError {
  override name = "ValidationError";
}

/** The user's module failed to import (syntax error, a throw at import): its own stack matters. */
export class AppLoadError extends Error {
  override name = "AppLoadError";
}
