// The --workers family's value parsers: counts, "auto", and the jitter that may be 0.
import { availableParallelism } from "node:os";
import { InvalidArgumentError } from "commander";
import { describe, expect, test } from "vitest";
import { parseCountOrZero, parseWorkers } from "../../../src/cli/main.ts";

describe("--workers and --max-requests-jitter values", () => {
  test("--workers takes a count from 1, or auto for one per CPU", () => {
    expect(parseWorkers("4")).toBe(4);
    expect(parseWorkers("auto")).toBe(availableParallelism());
    expect(() => parseWorkers("0")).toThrow(InvalidArgumentError);
    expect(() => parseWorkers("two")).toThrow(InvalidArgumentError);
  });

  test("--workers stops at 32 a CPU: a typo such as 100000 is refused, not forked until memory runs out", () => {
    const most = 32 * availableParallelism();
    expect(parseWorkers(String(most))).toBe(most);
    expect(() => parseWorkers(String(most + 1))).toThrow(`${most + 1} is more than ${most}, 32 for each of this machine's ${availableParallelism()} CPUs`);
    expect(() => parseWorkers("100000")).toThrow(InvalidArgumentError);
  });

  test("--max-requests-jitter takes 0 and up", () => {
    expect(parseCountOrZero("0")).toBe(0);
    expect(parseCountOrZero("50")).toBe(50);
    expect(() => parseCountOrZero("-1")).toThrow(InvalidArgumentError);
  });
});
