// The pure parts of a worker: access-log text cut into pipe-atomic writes of whole lines, and the setup it reads.
import { describe, expect, test } from "vitest";
import { SETUP_VARIABLE, wholeLines, workerSetup } from "../../../src/server/worker.ts";

function recorder(): { writes: string[]; sink: { write(text: string): boolean } } {
  const writes: string[] = [];
  return { writes, sink: { write: (text: string) => writes.push(text) > 0 } };
}

describe("wholeLines", () => {
  test("a short batch is one write", () => {
    const { writes, sink } = recorder();
    wholeLines(sink).write("a\nb\n");
    expect(writes).toEqual(["a\nb\n"]);
  });

  test("a long batch is cut at line ends into writes of at most the limit", () => {
    const { writes, sink } = recorder();
    const line = "x".repeat(99) + "\n";
    wholeLines(sink, 1000).write(line.repeat(25));
    expect(writes.join("")).toBe(line.repeat(25));
    for (const write of writes) {
      expect(Buffer.byteLength(write)).toBeLessThanOrEqual(1000);
      expect(write.endsWith("\n")).toBe(true);
    }
    expect(writes).toHaveLength(3);
  });

  test("a single line longer than the limit is cut to fit in one atomic write, and says what it lost", () => {
    const { writes, sink } = recorder();
    const long = "é".repeat(800) + "\n";
    wholeLines(sink, 1000).write("a\n" + long + "b\n");
    expect(writes).toHaveLength(3);
    expect([writes[0], writes[2]]).toEqual(["a\n", "b\n"]);
    const cut = writes[1]!;
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(1000);
    const [, kept, lost] = /^(é+)… \[(\d+) more bytes\]\n$/.exec(cut)!;
    expect(Buffer.byteLength(kept!) + Number(lost)).toBe(1600);
  });
});

describe("workerSetup", () => {
  test("reads the JSON the supervisor put in the environment", () => {
    const setup = { front: "http", listen: { host: "127.0.0.1", port: 0 }, app: "app.ts", cwd: "/", isQuiet: true, isMultiprocess: true, maxRequests: 0, heartbeat: 1000 };
    expect(workerSetup({ [SETUP_VARIABLE]: JSON.stringify(setup) })).toEqual(setup);
  });

  test("outside a worker it says so", () => {
    expect(() => workerSetup({})).toThrow(/runs only as a gw worker/);
  });
});
