// What a CLI command may touch of the outside world, passed in so tests can run main() in-process.

/** A writable text stream. */
export interface TextOut {
  write(text: string): unknown;
  isTTY?: boolean;
}

/** The CLI's world: its output streams, environment and working directory. */
export interface Io {
  stdout: TextOut;
  stderr: TextOut;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /**
   * Replaces this process with a fresh Node running the same command line with `nodeFlags` added
   * (process.execve: same pid, same open files; it does not return). Does nothing when the process
   * already runs with every one of them. Undefined where it cannot be done (Node before 22.15,
   * Windows); an Io made by a test leaves it out.
   */
  relaunch?: (nodeFlags: string[]) => void;
}

/** The Io of the gw process itself. */
export function processIo(): Io {
  const io: Io = { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };
  const execve = process.execve;
  if (execve !== undefined && process.platform !== "win32") {
    io.relaunch = (nodeFlags) => {
      const missing = nodeFlags.filter((flag) => !process.execArgv.includes(flag));
      if (missing.length === 0) return;
      execve(process.execPath, [process.execPath, ...missing, ...process.execArgv, ...process.argv.slice(1)], process.env);
    };
  }
  return io;
}
