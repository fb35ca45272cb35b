// How a CGI script is started (RFC 3875 §4 and §7): the command that runs its file, its command
// line from a search query, and its environment, built fresh for every request.
import { open } from "node:fs/promises";
import { extname } from "node:path";
import type { Environ } from "../core/types.ts";

/** How to run one script file: the program and the arguments before the query's words. */
export interface Launch {
  command: string;
  args: string[];
}

/** The variables of the server's own environment that scripts inherit by default. */
export const INHERITED_ENV: readonly string[] = ["PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "SYSTEMROOT"];
/** The INHERITED_ENV variables this process has, copied. */
export function inheritedEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of INHERITED_ENV) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

const SEARCH_WORD = /^(?:[A-Za-z0-9\-_.!~*'();/?:@&,$]|%[0-9A-Fa-f]{2})+$/;

/**
 * RFC 3875 §4.4: a query without "=" is a search string, and its "+"-separated words become the
 * script's arguments, decoded. If any word is not a valid search word, is not UTF-8 or would
 * read as an option (starts with "-"), there are no arguments at all.
 */
export function searchArguments(query: string): string[] {
  if (query === "" || query.includes("=")) return [];
  const words: string[] = [];
  for (const word of query.split("+")) {
    if (!SEARCH_WORD.test(word)) return [];
    let decoded: string;
    try {
      decoded = decodeURIComponent(word);
    } catch {
      return [];
    }
    if (decoded.startsWith("-") || decoded.includes("\0")) return [];
    words.push(decoded);
  }
  return words;
}

const BASIC_CREDENTIALS = /^[A-Za-z0-9+/]+={0,2}$/;

/** What the environment says of the script itself. */
export interface ScriptFacts {
  /** SCRIPT_NAME: the URL path that names it. */
  name: string;
  pathInfo: string;
  pathTranslated: string | undefined;
  /** SCRIPT_FILENAME: its file, as Apache, nginx and lighttpd give it. */
  filename?: string;
  /** Whether it runs through a --cgi-assign program (php-cgi wants REDIRECT_STATUS then). */
  isAssigned?: boolean;
}

/**
 * The environment of one script (RFC 3875 §4.1), built fresh: the inherited variables, the
 * meta-variables, then HTTP_* for the request headers except Authorization (§4.1.18) and Proxy
 * (httpoxy: HTTP_PROXY would steer the script's own HTTP clients).
 */
export function scriptEnv(base: Readonly<Record<string, string>>, environ: Environ, script: ScriptFacts): Record<string, string> {
  const env: Record<string, string> = { ...base };
  env.GATEWAY_INTERFACE = "CGI/1.1";
  env.SERVER_SOFTWARE = environ.SERVER_SOFTWARE ?? "gw";
  env.SERVER_NAME = environ.SERVER_NAME;
  env.SERVER_PORT = environ.SERVER_PORT;
  env.SERVER_PROTOCOL = environ.SERVER_PROTOCOL;
  env.REQUEST_METHOD = environ.REQUEST_METHOD;
  env.SCRIPT_NAME = script.name;
  env.PATH_INFO = script.pathInfo;
  if (script.pathTranslated !== undefined) env.PATH_TRANSLATED = script.pathTranslated;
  if (script.filename !== undefined) env.SCRIPT_FILENAME = script.filename;
  // php-cgi (force-cgi-redirect, on by default) runs only when a server vouches that it started
  // it for a request: lighttpd's cgi.assign and Apache's Action set this to 200.
  if (script.isAssigned === true) env.REDIRECT_STATUS = "200";
  env.QUERY_STRING = environ.QUERY_STRING ?? "";
  if (environ.REMOTE_ADDR !== undefined) {
    env.REMOTE_ADDR = environ.REMOTE_ADDR;
    // §4.1.9: REMOTE_HOST may hold the address when the name is not looked up.
    env.REMOTE_HOST = environ.REMOTE_ADDR;
  }
  if (environ.REMOTE_PORT !== undefined) env.REMOTE_PORT = environ.REMOTE_PORT;
  if (environ.REQUEST_URI !== undefined) env.REQUEST_URI = environ.REQUEST_URI;
  if (environ.CONTENT_LENGTH !== undefined) env.CONTENT_LENGTH = environ.CONTENT_LENGTH;
  if (environ.CONTENT_TYPE !== undefined) env.CONTENT_TYPE = environ.CONTENT_TYPE;
  const authorization = environ.HTTP_AUTHORIZATION;
  if (authorization !== undefined) {
    const [scheme, credentials, extra] = authorization.trim().split(/\s+/);
    if (scheme !== undefined && scheme !== "" && credentials !== undefined && extra === undefined) {
      env.AUTH_TYPE = scheme;
      if (scheme.toLowerCase() === "basic" && BASIC_CREDENTIALS.test(credentials)) {
        const decoded = Buffer.from(credentials, "base64").toString("utf8");
        const colon = decoded.indexOf(":");
        if (colon !== -1 && !decoded.includes("\0")) env.REMOTE_USER = decoded.slice(0, colon);
      }
    }
  }
  // A login the server checked (--auth) wins over what the header merely claims.
  if (typeof environ.REMOTE_USER === "string") {
    env.REMOTE_USER = environ.REMOTE_USER;
    env.AUTH_TYPE = typeof environ.AUTH_TYPE === "string" ? environ.AUTH_TYPE : "Basic";
  }
  for (const key in environ) {
    if (key.charCodeAt(0) !== 0x48 || !key.startsWith("HTTP_")) continue;
    if (key === "HTTP_PROXY" || key === "HTTP_AUTHORIZATION" || key === "HTTP_PROXY_AUTHORIZATION") continue;
    const value = environ[key];
    if (typeof value === "string") env[key] = value;
  }
  return env;
}

/**
 * How to run a script file. A file whose extension has a program in `assign` (--cgi-assign,
 * lighttpd's cgi.assign) runs through that program; any other file runs as itself only when it
 * has an execute bit and starts with "#!" or an ELF header; else undefined (403): a file dropped
 * into a CGI folder never becomes a program by its name alone.
 */
export async function chooseLaunch(path: string, mode: number, assign: ReadonlyMap<string, string> = NO_ASSIGN): Promise<Launch | undefined> {
  const program = assign.size === 0 ? undefined : assign.get(extname(path).toLowerCase());
  if (program !== undefined) return { command: program, args: [path] };
  if ((mode & 0o111) === 0) return undefined;
  const file = await open(path, "r");
  try {
    const { buffer, bytesRead } = await file.read(Buffer.alloc(20), 0, 20, 0);
    const head = buffer.subarray(0, bytesRead);
    // Whatever execve refuses (ENOEXEC), glibc's execvp, which spawn() uses, hands to /bin/sh:
    // only a "#!" line or an ELF program this machine runs is started.
    if ((head[0] === 0x23 && head[1] === 0x21) || isRunnableElf(head)) return { command: path, args: [] };
  } finally {
    await file.close();
  }
  return undefined;
}

// ELF's e_machine for the architectures Node runs on (the System V ABI's numbers).
const ELF_MACHINES: Readonly<Record<string, readonly number[]>> = {
  x64: [62, 3], ia32: [3], arm64: [183, 40], arm: [40], riscv64: [243], ppc64: [21], s390x: [22], loong64: [258], mips: [8], mipsel: [8],
};

/** Whether `head` (a file's first 20 bytes) starts an ELF executable or shared object for this machine. */
function isRunnableElf(head: Buffer): boolean {
  if (head.length < 20 || head.readUInt32BE(0) !== 0x7f454c46) return false;
  const elfClass = head[4];
  const data = head[5];
  if ((elfClass !== 1 && elfClass !== 2) || (data !== 1 && data !== 2) || head[6] !== 1) return false;
  const type = data === 1 ? head.readUInt16LE(16) : head.readUInt16BE(16);
  const machine = data === 1 ? head.readUInt16LE(18) : head.readUInt16BE(18);
  // ET_EXEC or ET_DYN (position-independent executables).
  if (type !== 2 && type !== 3) return false;
  const machines = ELF_MACHINES[process.arch];
  return machines === undefined || machines.includes(machine);
}

const NO_ASSIGN: ReadonlyMap<string, string> = new Map();

/** Parses --cgi-assign values ("EXT=PROGRAM", the dot optional) into a map from ".ext" (lower case) to the program. */
export function parseAssign(values: readonly string[]): Map<string, string> {
  const assign = new Map<string, string>();
  for (const value of values) {
    const equals = value.indexOf("=");
    const extension = equals === -1 ? "" : value.slice(0, equals).trim().toLowerCase();
    const program = equals === -1 ? "" : value.slice(equals + 1).trim();
    if (!/^\.?[a-z0-9_+-]+$/.test(extension) || program === "") throw new Error(`"${value}" is not EXT=PROGRAM (like .py=python3)`);
    assign.set(extension.startsWith(".") ? extension : "." + extension, program);
  }
  return assign;
}
