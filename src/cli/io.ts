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
}
