// `gw serve --env-file FILE` and `--env-file-if-exists FILE`: variables for the app's process.env,
// read with Node's own parser (util.parseEnv, the same rules as `node --env-file`).
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseEnv } from "node:util";
import { UserError } from "../core/errors.ts";

/** One env file as given on the command line. */
export interface EnvFile {
  /** The path as given; resolved against the working folder. */
  path: string;
  /** From --env-file-if-exists: a missing file is no error. */
  isOptional: boolean;
}

/**
 * The variables of `files` in order, later files winning; a required file that is missing or
 * unreadable is a one-line UserError naming the flag and the file.
 */
export function readEnvFiles(files: readonly EnvFile[], cwd: string): Record<string, string> {
  // No prototype: a file may name a variable "__proto__".
  const vars: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(resolve(cwd, file.path), "utf8");
    } catch (error) {
      if (file.isOptional && (error as NodeJS.ErrnoException).code === "ENOENT") continue;
      const reason = (error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (error as Error).message;
      throw new UserError(`--env-file ${file.path}: ${reason}`, { cause: error });
    }
    Object.assign(vars, parseEnv(text));
  }
  return vars;
}

/**
 * The environment an app gets: the process's own, plus the files' variables for names it does
 * not set (as `node --env-file` does, the real environment wins).
 */
export function envWithFiles(base: NodeJS.ProcessEnv, vars: Readonly<Record<string, string>>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const [name, value] of Object.entries(vars)) if (base[name] === undefined) env[name] = value;
  return env;
}

/** The names whose values differ between two sets of variables (added, changed or removed), sorted. */
export function changedKeys(before: Readonly<Record<string, string>>, after: Readonly<Record<string, string>>): string[] {
  const names = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...names].filter((name) => before[name] !== after[name]).sort();
}
