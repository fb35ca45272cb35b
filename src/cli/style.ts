// Colour for the terminal: on when stderr is a TTY (or FORCE_COLOR), off with NO_COLOR. Lines
// scripts parse are only coloured on a terminal, never in a pipe or a file.
import pc from "picocolors";
import type { Io } from "./io.ts";

/** The picocolors functions gw uses, on or off. */
export type Colors = ReturnType<typeof pc.createColors>;

/** Whether text written to io.stderr should carry colour. */
export function hasColor(io: Io): boolean {
  const env = io.env;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "0") return true;
  return io.stderr.isTTY === true && env.TERM !== "dumb";
}

/** picocolors for io.stderr. */
export function colorsFor(io: Io): Colors {
  return pc.createColors(hasColor(io));
}

/** Colours an access-log line by its status class: 2xx green, 3xx cyan, 4xx yellow, 5xx red. */
export function accessLineDecorator(colors: Colors): ((line: string, status: number | string) => string) | undefined {
  if (!colors.isColorSupported) return undefined;
  return (line, status) => {
    const code = Number(status);
    if (code >= 500) return colors.red(line);
    if (code >= 400) return colors.yellow(line);
    if (code >= 300) return colors.cyan(line);
    if (code >= 200) return colors.green(line);
    return line;
  };
}
