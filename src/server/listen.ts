// Where a front behind a web server listens: a TCP host and port, a Unix socket (its mode set,
// a stale file replaced), or an inherited listening socket on fd 0 (FastCGI §2.2).
import { chmod, lstat, unlink } from "node:fs/promises";
import { existsSync, fstatSync } from "node:fs";
import { dirname } from "node:path";
import { connect, createServer, type AddressInfo, type Server } from "node:net";
import { UserError } from "../core/errors.ts";

/** A Unix socket path, with the permission bits to give it. */
export interface SocketTarget {
  socket: string;
  /** Permission bits for the socket file, e.g. 0o660; by default what the umask leaves. */
  mode?: number;
}

/** A TCP address. */
export interface TcpTarget {
  host: string;
  port: number;
}

/** An inherited socket that is already listening, such as fd 0 when a web server spawned gw. */
export interface FdTarget {
  fd: number;
}

/** Where to listen. */
export type ListenTarget = SocketTarget | TcpTarget | FdTarget;

function translate(error: NodeJS.ErrnoException, target: ListenTarget): Error {
  if ("socket" in target) {
    const path = target.socket;
    // libuv reports a missing folder as EACCES too.
    if (error.code === "ENOENT" || (error.code === "EACCES" && !existsSync(dirname(path)))) return new UserError(`cannot create the socket ${path}: its folder does not exist`, { cause: error });
    if (error.code === "EACCES") return new UserError(`no permission to create the socket ${path}`, { cause: error });
    if (error.code === "EADDRINUSE") return new UserError(`${path} is in use; stop the other server or choose another --socket`, { cause: error });
    return error;
  }
  if ("fd" in target) return new UserError(`fd ${target.fd} is not a listening socket`, { cause: error });
  const { host, port } = target;
  if (error.code === "EADDRINUSE") return new UserError(`port ${port} on ${host} is in use; stop the other server or use --port 0`, { cause: error });
  if (error.code === "EACCES") return new UserError(`no permission to listen on port ${port}; use a port above 1023`, { cause: error });
  if (error.code === "EADDRNOTAVAIL" || error.code === "ENOTFOUND") {
    return new UserError(`cannot listen on host ${host}: it is not an address of this machine`, { cause: error });
  }
  return error;
}

/** Whether something accepts connections on the Unix socket at `path`. */
function isLive(path: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = connect(path);
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "ECONNREFUSED" || error.code === "ENOENT") resolve(false);
      else reject(new UserError(`cannot tell whether a server uses the socket ${path} (${error.code ?? error.message})`, { cause: error }));
    });
  });
}

/**
 * Clears the way for a socket at `path`: a socket file nobody listens on (left by a gw that was
 * killed) is removed; a live socket or any other kind of file is a UserError.
 */
export async function clearStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  if (!isSocket) throw new UserError(`${path} exists and is not a socket; remove it or choose another --socket`);
  if (await isLive(path)) throw new UserError(`another server is listening on ${path}; stop it or choose another --socket`);
  await unlink(path);
}

/**
 * Starts listening on `target` and resolves with the listening server; failures are one-line
 * UserErrors. A `--workers` worker passes `isShared`: its siblings listen on the same socket file
 * (node:cluster shares it), which the supervisor cleared of a stale one before they started.
 */
export async function bindListener(target: ListenTarget, isShared: boolean = false): Promise<Server> {
  if ("socket" in target && !isShared) await clearStaleSocket(target.socket);
  const server = createServer({ noDelay: true });
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => reject(translate(error, target));
    server.once("error", onError);
    const onListening = (): void => {
      server.off("error", onError);
      resolve();
    };
    if ("socket" in target) server.listen(target.socket, onListening);
    // exclusive: a cluster worker listens on the inherited descriptor itself, not on a handle the
    // supervisor opens on it, which node:cluster closes with its last worker (libuv spares fds 0-2).
    else if ("fd" in target) server.listen({ fd: target.fd, exclusive: true }, onListening);
    else server.listen(target.port, target.host, onListening);
  });
  if ("socket" in target && target.mode !== undefined) await chmod(target.socket, target.mode);
  return server;
}

/**
 * Whether `fd` is a socket another process left listening for us (a web server's spawner,
 * systemd): then listening on it again succeeds, where a connected socket or a pipe fails.
 */
export async function inheritedListener(fd: number = 0): Promise<Server | undefined> {
  try {
    if (!fstatSync(fd).isSocket()) return undefined;
    return await bindListener({ fd });
  } catch {
    return undefined;
  }
}

/**
 * Whether `fd` is a listening socket, asked of a short-lived child that inherits it: listening on
 * it here would tie the descriptor to a server whose close() closes it (the `--workers`
 * supervisor hands fd 0 to its workers and must neither accept on it nor lose it).
 */
export async function isListeningFd(fd: number = 0): Promise<boolean> {
  try {
    if (!fstatSync(fd).isSocket()) return false;
  } catch {
    return false;
  }
  const { spawnSync } = await import("node:child_process");
  const probe = `require("node:net").createServer().on("error", () => process.exit(1)).listen({ fd: ${fd}, exclusive: true }, () => process.exit(0))`;
  const stdio = Array.from({ length: fd + 1 }, (_, at) => (at === fd ? "inherit" : "ignore")) as ("inherit" | "ignore")[];
  return spawnSync(process.execPath, ["-e", probe], { stdio, timeout: 10_000 }).status === 0;
}

/** Where a listener listens, for the ready line: `127.0.0.1 port 9000`, `unix:/run/gw.sock` or `fd 0`. */
export function describeListener(server: Server, target: ListenTarget): string {
  const address = server.address() as AddressInfo | string | null;
  return describeTarget(target, typeof address === "object" && address !== null ? address.port : 0);
}

/** describeListener's text for `target` when it got `port` (what --workers' supervisor knows). */
export function describeTarget(target: ListenTarget, port: number): string {
  if ("socket" in target) return `unix:${target.socket}`;
  if ("fd" in target) return `fd ${target.fd}`;
  return `${target.host} port ${port || target.port}`;
}

/** The port a TCP listener got (the real one when 0 was asked); undefined for a socket file. */
export function portOf(server: Server): number | undefined {
  const address = server.address();
  return address !== null && typeof address === "object" ? address.port : undefined;
}
