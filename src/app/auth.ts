// HTTP Basic authentication (RFC 7617) in front of a gw app: logins from --auth and from an
// htpasswd file (bcrypt, {SHA} and apr1-MD5 lines, as Apache's htpasswd writes them).
import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { UserError } from "../core/errors.ts";
import type { App } from "../core/types.ts";

/** How one user's password is checked. */
type Check = (password: string) => boolean;

/** The logins a basicAuth front accepts: user name → check. */
export type Logins = Map<string, Check>;

const BASIC = /^[Bb][Aa][Ss][Ii][Cc][ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/;

/** Constant-time comparison of two strings (their SHA-256 digests, so lengths leak nothing either). */
function sameText(a: string, b: string): boolean {
  return timingSafeEqual(createHash("sha256").update(a).digest(), createHash("sha256").update(b).digest());
}

/** Adds `--auth USER:PASSWORD` logins; the password is compared in constant time. */
export function addPlainLogins(logins: Logins, pairs: readonly string[]): Logins {
  for (const pair of pairs) {
    const colon = pair.indexOf(":");
    // The value is never repeated: it may be a password typed in the wrong place.
    if (colon === -1) throw new UserError(`--auth wants USER:PASSWORD; got a value without ":"`);
    if (colon === 0) throw new UserError(`--auth wants USER:PASSWORD; got a value without a user name`);
    const password = pair.slice(colon + 1);
    logins.set(pair.slice(0, colon), (given) => sameText(given, password));
  }
  return logins;
}

const require = createRequire(import.meta.url);

/** The check for one htpasswd hash, or undefined for a format gw does not read. */
function hashCheck(hash: string): Check | undefined {
  if (/^\$2[abxy]\$\d\d\$/.test(hash)) {
    // bcryptjs: pure JS, no native build; its compare is constant-time over the hash.
    const bcrypt = require("bcryptjs") as { compareSync(password: string, hash: string): boolean };
    return (given) => bcrypt.compareSync(given, hash);
  }
  if (hash.startsWith("{SHA}")) {
    return (given) => sameText(createHash("sha1").update(given, "utf8").digest("base64"), hash.slice(5));
  }
  if (hash.startsWith("$apr1$")) {
    // apache-md5: Apache's own salted MD5 scheme, which node:crypto does not offer as such.
    const md5 = require("apache-md5") as (password: string, salt: string) => string;
    return (given) => sameText(md5(given, hash), hash);
  }
  return undefined;
}

/** Adds the logins of an htpasswd file; a UserError names a line gw cannot read (never its hash). */
export function addHtpasswdLogins(logins: Logins, file: string): Logins {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new UserError(`cannot read --htpasswd file ${file}`, { cause: error });
  }
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    const colon = line.indexOf(":");
    const check = colon <= 0 ? undefined : hashCheck(line.slice(colon + 1));
    if (check === undefined) throw new UserError(`${file}:${i + 1}: not a bcrypt, {SHA} or $apr1$ htpasswd line`);
    logins.set(line.slice(0, colon), check);
  }
  return logins;
}

/**
 * Puts HTTP Basic authentication in front of `app`: a good login sets REMOTE_USER and
 * AUTH_TYPE=Basic in the environ; anything else gets 401 with `WWW-Authenticate: Basic realm`.
 */
export function basicAuth(app: App, logins: Logins, realm: string = "gw"): App {
  const challenge = `Basic realm="${realm.replace(/["\\]/g, "")}"`;
  return (environ, startResponse) => {
    const match = BASIC.exec(environ.HTTP_AUTHORIZATION ?? "");
    if (match !== null) {
      const decoded = Buffer.from(match[1]!, "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      const user = colon === -1 ? "" : decoded.slice(0, colon);
      const check = logins.get(user);
      // An unknown user still costs a comparison, so timing does not tell which names exist.
      const isGood = check !== undefined ? check(decoded.slice(colon + 1)) : sameText(decoded, "\0") && false;
      if (isGood) {
        environ.REMOTE_USER = user;
        environ.AUTH_TYPE = "Basic";
        return app(environ, startResponse);
      }
    }
    const page = "401 Unauthorized: this server needs a user name and password.\n";
    startResponse("401 Unauthorized", [["Content-Type", "text/plain; charset=utf-8"], ["Content-Length", String(page.length)], ["WWW-Authenticate", challenge]]);
    return [page];
  };
}
