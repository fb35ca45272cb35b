// Static folders in front of an app, as web.py's runsimple served /static/: requests under a
// folder's URL prefix go to the file server (staticApp), every other request to the app.
import { staticApp } from "./static.ts";
import type { App, Environ } from "../core/types.ts";

/** One static folder: its URL prefix ("/static") and the folder on disk. */
export interface StaticMount {
  prefix: string;
  directory: string;
}

/** Parses `--static URL=DIR`; throws an Error naming what is wrong. */
export function parseStaticMount(value: string): StaticMount {
  const equals = value.indexOf("=");
  const url = equals === -1 ? "" : value.slice(0, equals).trim();
  const directory = equals === -1 ? "" : value.slice(equals + 1).trim();
  if (!url.startsWith("/") || directory === "") throw new Error(`"${value}" is not URL=DIR (like /assets=./public)`);
  const prefix = url.replace(/\/+$/, "");
  if (prefix === "") throw new Error(`"${value}": the URL prefix cannot be "/" (serve the folder with --directory instead)`);
  return { prefix, directory };
}

/**
 * Serves each mount's folder under its prefix (with the same safety, caching and ranges as
 * --directory) and sends every other request to `app`; a missing file under a prefix is the file
 * server's 404, so the app never sees those requests. Throws a UserError for a missing folder.
 */
export function withStaticFolders(app: App, mounts: readonly StaticMount[]): App {
  if (mounts.length === 0) return app;
  // The longest prefix first, so "/static/img" wins over "/static".
  const served = [...mounts].sort((a, b) => b.prefix.length - a.prefix.length).map((mount) => ({ prefix: mount.prefix, files: staticApp(mount.directory) }));
  return (environ, startResponse) => {
    const path = environ.PATH_INFO ?? "";
    for (const { prefix, files } of served) {
      if (!path.startsWith(prefix) || (path.length > prefix.length && path.charCodeAt(prefix.length) !== 0x2f)) continue;
      const inner: Environ = { ...environ, SCRIPT_NAME: (environ.SCRIPT_NAME ?? "") + prefix, PATH_INFO: path.slice(prefix.length) };
      return files(inner, startResponse);
    }
    return app(environ, startResponse);
  };
}
