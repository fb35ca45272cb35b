import { describe, expect, test } from "vitest";
import { BodyInput, ErrorOutput, inputFromBytes } from "../../../src/core/input.ts";

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString();
const texts = (list: Uint8Array[]): string[] => list.map(text);

/** A source that yields `chunks` and records how often it was opened, pulled and returned. */
function tracked(chunks: string[], isAsync = true): {
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  stats: { opened: number; pulls: number; returned: number };
} {
  const stats = { opened: 0, pulls: 0, returned: 0 };
  const open = (): Iterator<Uint8Array> => {
    stats.opened++;
    let index = 0;
    return {
      next: () => {
        stats.pulls++;
        const chunk = chunks[index++];
        return chunk === undefined ? { done: true, value: undefined } : { done: false, value: Buffer.from(chunk) };
      },
      return: () => {
        stats.returned++;
        return { done: true, value: undefined };
      },
    };
  };
  if (!isAsync) return { source: { [Symbol.iterator]: open }, stats };
  const source: AsyncIterable<Uint8Array> = {
    [Symbol.asyncIterator]: () => {
      const inner = open();
      return {
        next: async () => inner.next(),
        return: async () => inner.return!(),
      };
    },
  };
  return { source, stats };
}

const input = (chunks: string[], limit?: number): BodyInput => new BodyInput(tracked(chunks).source, limit);

describe("BodyInput.read", () => {
  test("read() returns everything, across chunks", async () => {
    const body = input(["ab", "cd", "ef"]);
    expect(text(await body.read())).toBe("abcdef");
    expect((await body.read()).byteLength).toBe(0);
  });

  test("a negative size means read everything", async () => {
    expect(text(await input(["ab", "cd"]).read(-1))).toBe("abcd");
  });

  test("read(n) returns pieces of n bytes across chunk boundaries, and the rest at the end", async () => {
    const body = input(["abc", "def", "gh"]);
    expect(text(await body.read(2))).toBe("ab");
    expect(text(await body.read(2))).toBe("cd");
    expect(text(await body.read(3))).toBe("efg");
    expect(text(await body.read(5))).toBe("h");
    expect((await body.read(1)).byteLength).toBe(0);
  });

  test("read(n) pulls only as many chunks as it needs", async () => {
    const { source, stats } = tracked(["abc", "def", "ghi"]);
    const body = new BodyInput(source);
    expect(text(await body.read(4))).toBe("abcd");
    expect(stats.pulls).toBe(2);
  });

  test("read(0) returns nothing and reads nothing", async () => {
    const { source, stats } = tracked(["abc"]);
    const body = new BodyInput(source);
    expect((await body.read(0)).byteLength).toBe(0);
    expect(stats.opened).toBe(0);
    expect(text(await body.read())).toBe("abc");
  });

  test("a sync iterable source works like an async one", async () => {
    const { source } = tracked(["ab", "cd"], false);
    const body = new BodyInput(source);
    expect(text(await body.read(3))).toBe("abc");
    expect(text(await body.read())).toBe("d");
  });

  test("empty chunks from the source are skipped, not taken for the end", async () => {
    const body = input(["", "ab", "", "cd"]);
    expect(text(await body.read(1))).toBe("a");
    expect(text(await body.read())).toBe("bcd");
  });

  test("inputFromBytes wraps one byte string, or nothing", async () => {
    expect(text(await inputFromBytes("héllo").read())).toBe("héllo");
    expect(text(await inputFromBytes(new Uint8Array([0x68, 0x69])).read())).toBe("hi");
    expect((await inputFromBytes().read()).byteLength).toBe(0);
  });
});

describe("BodyInput.readline and readlines", () => {
  test("readline returns each line with its \\n, the last line without one, then empty", async () => {
    const body = input(["one\ntwo\nthree"]);
    expect(text(await body.readline())).toBe("one\n");
    expect(text(await body.readline())).toBe("two\n");
    expect(text(await body.readline())).toBe("three");
    expect((await body.readline()).byteLength).toBe(0);
  });

  test("readline joins a line split across chunks", async () => {
    const body = input(["on", "e\ntw", "o", "\n"]);
    expect(text(await body.readline())).toBe("one\n");
    expect(text(await body.readline())).toBe("two\n");
    expect((await body.readline()).byteLength).toBe(0);
  });

  test("readline stops at the first \\n without pulling further chunks", async () => {
    const { source, stats } = tracked(["a\nb", "c\n", "d\n"]);
    const body = new BodyInput(source);
    expect(text(await body.readline())).toBe("a\n");
    expect(stats.pulls).toBe(1);
  });

  test("readline(n) returns at most n bytes, and the rest of the line next", async () => {
    const body = input(["abcdef\n", "xy\n"]);
    expect(text(await body.readline(3))).toBe("abc");
    expect(text(await body.readline(10))).toBe("def\n");
    expect(text(await body.readline(3))).toBe("xy\n");
  });

  test("readline(n) stops at a \\n inside the limit, and takes it when it is the n-th byte", async () => {
    const body = input(["ab\ncd\nef"]);
    expect(text(await body.readline(5))).toBe("ab\n");
    expect(text(await body.readline(3))).toBe("cd\n");
    expect(text(await body.readline(0))).toBe("");
    expect(text(await body.readline(1))).toBe("e");
  });

  test("readline(n) over chunks smaller than n still stops at n", async () => {
    const body = input(["a", "b", "c", "d", "e"]);
    expect(text(await body.readline(3))).toBe("abc");
    expect(text(await body.readline())).toBe("de");
  });

  test("readlines() returns every remaining line", async () => {
    const body = input(["a\nb", "b\n", "ccc"]);
    expect(texts(await body.readlines())).toEqual(["a\n", "bb\n", "ccc"]);
    expect(await body.readlines()).toEqual([]);
  });

  test("readlines(hint) stops once the lines read reach hint bytes, as Python's does", async () => {
    const body = input(["a\nbb\nccc\ndddd\n"]);
    // "a\n" is 2 bytes (< 4), "bb\n" brings it to 5 (>= 4): stop there.
    expect(texts(await body.readlines(4))).toEqual(["a\n", "bb\n"]);
    expect(text(await body.readline())).toBe("ccc\n");
    // A hint of 0 or less means no limit.
    expect(texts(await body.readlines(0))).toEqual(["dddd\n"]);
  });
});

describe("BodyInput iteration", () => {
  test("iterates the body in the chunks it arrives in, skipping empty ones", async () => {
    const seen: string[] = [];
    for await (const chunk of input(["ab", "", "cd", "e"])) seen.push(text(chunk));
    expect(seen).toEqual(["ab", "cd", "e"]);
  });

  test("after a readline, iteration yields what is buffered first, then the following chunks", async () => {
    const body = input(["line1\nre", "st", "!"]);
    expect(text(await body.readline())).toBe("line1\n");
    const seen: string[] = [];
    for await (const chunk of body) seen.push(text(chunk));
    expect(seen).toEqual(["re", "st", "!"]);
    expect((await body.read()).byteLength).toBe(0);
  });
});

describe("BodyInput limit (CONTENT_LENGTH)", () => {
  test("never returns more than the limit, mid-chunk", async () => {
    expect(text(await input(["hello", "world"], 7).read())).toBe("hellowo");
  });

  test("stops pulling at the limit and lets go of the source", async () => {
    const { source, stats } = tracked(["hello", "world", "never"]);
    const body = new BodyInput(source, 7);
    expect(text(await body.read())).toBe("hellowo");
    expect((await body.read()).byteLength).toBe(0);
    expect((await body.readline()).byteLength).toBe(0);
    expect(stats.pulls).toBe(2);
    expect(stats.returned).toBe(1);
  });

  test("a limit on a chunk boundary does not pull the next chunk", async () => {
    const { source, stats } = tracked(["hello", "world"]);
    const body = new BodyInput(source, 5);
    expect(text(await body.read())).toBe("hello");
    expect(stats.pulls).toBe(1);
  });

  test("readline and iteration respect the limit too", async () => {
    expect(text(await input(["ab\ncd\n"], 4).readlines().then((lines) => Buffer.concat(lines)))).toBe("ab\nc");
    const seen: string[] = [];
    for await (const chunk of input(["abc", "def"], 4)) seen.push(text(chunk));
    expect(seen).toEqual(["abc", "d"]);
  });

  test("a limit above the source's size reads to the end", async () => {
    expect(text(await input(["ab", "c"], 100).read())).toBe("abc");
  });

  test("a limit of 0 never opens the source", async () => {
    const { source, stats } = tracked(["data"]);
    const body = new BodyInput(source, 0);
    expect((await body.read()).byteLength).toBe(0);
    expect((await body.readline()).byteLength).toBe(0);
    for await (const _chunk of body) throw new Error("nothing should be yielded");
    expect(stats.opened).toBe(0);
  });
});

describe("BodyInput laziness and empty input", () => {
  test("the source is not opened until the first read", async () => {
    const { source, stats } = tracked(["abc"]);
    const body = new BodyInput(source);
    expect(stats.opened).toBe(0);
    await body.read(1);
    expect([stats.opened, stats.pulls]).toEqual([1, 1]);
  });

  test("an empty source gives empty reads, no lines and no chunks", async () => {
    const body = input([]);
    expect((await body.read()).byteLength).toBe(0);
    expect((await body.read(10)).byteLength).toBe(0);
    expect((await body.readline()).byteLength).toBe(0);
    expect(await body.readlines()).toEqual([]);
    const seen: Uint8Array[] = [];
    for await (const chunk of body) seen.push(chunk);
    expect(seen).toEqual([]);
  });
});

describe("ErrorOutput", () => {
  test("write passes text through as it is", () => {
    const written: string[] = [];
    const errors = new ErrorOutput({ write: (text: string) => written.push(text) });
    errors.write("no newline added");
    errors.write("line\n");
    expect(written).toEqual(["no newline added", "line\n"]);
  });

  test("writelines writes each string in turn, adding no newlines", () => {
    const written: string[] = [];
    const errors = new ErrorOutput({ write: (text: string) => written.push(text) });
    errors.writelines(["a", "b\n", "c"]);
    errors.writelines(new Set(["d"]));
    expect(written).toEqual(["a", "b\n", "c", "d"]);
  });

  test("flush writes nothing and does not throw", () => {
    const written: string[] = [];
    const errors = new ErrorOutput({ write: (text: string) => written.push(text) });
    expect(errors.flush()).toBeUndefined();
    expect(written).toEqual([]);
  });
});
