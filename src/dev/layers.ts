// What gw puts in front of a served app (--static folders, then HTTP Basic authentication), as
// plain data: the CLI decides the layers once, and the process that serves builds them, which is
// the CLI's own process or, under --workers, each worker process (the layers travel as JSON).
import { existsSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { addHtpasswdLogins, addPlainLogins, basicAuth } from "../app/auth.ts";
import { UserError } from "../core/errors.ts";
import type { App } from "../core/types.ts";
import { parseStaticMount, withStaticFolders, type StaticMount } from "../files/front.ts";
import { resolveAppSpec } from "./load.ts";

/** The layers in front of an app: JSON-safe, so a worker process can rebuild them. */
export interface FrontLayers {
  /** Static folders, by URL prefix (absolute directories). */
  mounts: StaticMount[];
  /** --auth USER:PASSWORD logins. */
  logins: string[];
  /** The --htpasswd file, absolute; read by whichever process builds the layers. */
  htpasswd: string | undefined;
}

/** What the command line said about the layers. */
export interface LayerRequest {
  /** path[:export] of the app; undefined when a folder is served (no static/ beside it). */
  app: string | undefined;
  /** --static URL=DIR values, or false for --no-static. */
  static: string[] | false;
  auth: string[];
  htpasswd: string | undefined;
}

/**
 * Decides the layers: static/ beside the app module (announced through `say`, once), then each
 * --static, then the logins. Mistakes in the values are UserErrors; folders and the htpasswd file
 * are checked when the layers are built (buildLayers), before any socket is bound.
 */
export function decideLayers(request: LayerRequest, cwd: string, say: (line: string) => void): FrontLayers {
  const mounts: StaticMount[] = [];
  if (request.static !== false && request.app !== undefined) {
    const beside = join(dirname(resolveAppSpec(request.app, cwd).path), "static");
    if (existsSync(beside) && statSync(beside).isDirectory()) {
      mounts.push({ prefix: "/static", directory: beside });
      say(`gw: serving ${beside} under /static/ (--no-static turns this off)`);
    }
    for (const value of request.static) {
      try {
        const mount = parseStaticMount(value);
        mounts.push({ prefix: mount.prefix, directory: resolve(cwd, mount.directory) });
      } catch (error) {
        throw new UserError(`--static: ${(error as Error).message}`);
      }
    }
  }
  return { mounts, logins: request.auth, htpasswd: request.htpasswd === undefined ? undefined : resolve(cwd, request.htpasswd) };
}

/**
 * Builds the layers around an app: authentication in front of everything, the static folders in
 * front of the app. Reads the htpasswd file and checks the folders now (UserErrors).
 */
export function buildLayers(layers: FrontLayers): (app: App) => App {
  const hasAuth = layers.logins.length > 0 || layers.htpasswd !== undefined;
  const logins = hasAuth ? addPlainLogins(new Map(), layers.logins) : undefined;
  if (logins !== undefined && layers.htpasswd !== undefined) addHtpasswdLogins(logins, layers.htpasswd);
  return (app) => {
    const served = withStaticFolders(app, layers.mounts);
    return logins === undefined ? served : basicAuth(served, logins);
  };
}
