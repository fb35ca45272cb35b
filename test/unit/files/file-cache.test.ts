// What the file server remembers between requests (files/file-cache): kept bytes and real paths
// are used only while each request's stat shows the same version of the same file, so a file
// changed in any way between two requests is served new, and a path that now leads out of the
// root is a 404 at once. The clock of the racy rule is moved forward so bytes are kept at once.
import { mkdirSync, mkdtempSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { findInside, handOver, SmallFiles, wallClock, type Found } from "../../../src/files/file-cache.ts";
import { staticApp } from "../../../src/files/static.ts";
import { makeServer, type HttpServer } from "../../../src/server/http.ts";
import { sendRequest } from "../../helpers/http-client.ts";

let base: string;
let root: string;
let server: HttpServer;
const realNow = wallClock.now;

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), "gw-file-cache-"));
  root = join(base, "www");
  mkdirSync(root);
  mkdirSync(join(base, "outside"));
  writeFileSync(join(base, "outside", "page.txt"), "SECRET-OUTSIDE");
  server = await makeServer("127.0.0.1", 0, staticApp(root), { log: null, errors: { write: () => true } });
  void server.serveForever();
});

afterAll(async () => {
  await server?.shutdown(500);
  rmSync(base, { recursive: true, force: true });
});

afterEach(() => {
  wallClock.now = realNow;
});

/** Pretends every change is old enough for its bytes to be kept (past the racy window). */
function keepAtOnce(): void {
  wallClock.now = () => realNow() + 60_000;
}

/** A Found for a path, as findInside would give it (the cache takes the key and stats from it). */
function fileAt(path: string): Found {
  return { path: Buffer.from(path), key: Buffer.from(path).toString("latin1"), stats: statSync(path) };
}

const get = async (path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> => {
  const response = await sendRequest(server.url, path, { headers });
  return { status: response.status, body: response.body.toString() };
};

describe("SmallFiles", () => {
  test("bytes read long after the file's last change are kept: the same Buffer while the stats match", () => {
    keepAtOnce();
    const path = join(base, "kept.txt");
    writeFileSync(path, "kept bytes");
    const cache = new SmallFiles(1024);
    const first = cache.read(fileAt(path));
    expect(first.toString()).toBe("kept bytes");
    expect(cache.read(fileAt(path))).toBe(first);
  });

  test("bytes read within the racy window are read again, even when the stats look the same", () => {
    const path = join(base, "racy.txt");
    writeFileSync(path, "AAAA");
    // One stat for both reads: what a second write within the same timestamp tick would show.
    const file = fileAt(path);
    const cache = new SmallFiles(1024);
    expect(cache.read(file).toString()).toBe("AAAA");
    writeFileSync(path, "BBBB");
    expect(cache.read(file).toString()).toBe("BBBB");
  });

  test("the oldest files leave once the cache is full; a file bigger than the cache is never kept", () => {
    keepAtOnce();
    const cache = new SmallFiles(10);
    const paths = ["a", "b", "c"].map((name) => join(base, `full-${name}.txt`));
    for (const path of paths) writeFileSync(path, "12345");
    const first = cache.read(fileAt(paths[0]!));
    expect(cache.read(fileAt(paths[0]!))).toBe(first);
    cache.read(fileAt(paths[1]!));
    cache.read(fileAt(paths[2]!));
    expect(cache.read(fileAt(paths[0]!))).not.toBe(first);
    const big = join(base, "big.txt");
    writeFileSync(big, "x".repeat(11));
    expect(cache.read(fileAt(big))).not.toBe(cache.read(fileAt(big)));
  });
});

describe("no stale byte over HTTP", () => {
  test("a file rewritten in place with the same size, many times in a row, is served new each time", async () => {
    const path = join(root, "rewrite.txt");
    for (let i = 0; i < 20; i++) {
      // Often within one timestamp tick of the last write: only the racy rule tells them apart.
      writeFileSync(path, `version ${String(i).padStart(2, "0")}`);
      expect(await get("/rewrite.txt")).toEqual({ status: 200, body: `version ${String(i).padStart(2, "0")}` });
    }
  });

  test("kept bytes: a same-size rewrite with its mtime put back is served new (ctime differs)", async () => {
    keepAtOnce();
    const path = join(root, "same-mtime.txt");
    writeFileSync(path, "first!");
    const old = new Date(Date.now() - 3600_000);
    utimesSync(path, old, old);
    expect((await get("/same-mtime.txt")).body).toBe("first!");
    expect((await get("/same-mtime.txt")).body).toBe("first!");
    writeFileSync(path, "second");
    utimesSync(path, old, old);
    expect(statSync(path).mtimeMs).toBe(old.getTime());
    expect(await get("/same-mtime.txt")).toEqual({ status: 200, body: "second" });
  });

  test("kept bytes: a file renamed over the old one (same size, same mtime) is served new (another inode)", async () => {
    keepAtOnce();
    const path = join(root, "renamed.txt");
    const old = new Date(Date.now() - 3600_000);
    writeFileSync(path, "old content");
    utimesSync(path, old, old);
    expect((await get("/renamed.txt")).body).toBe("old content");
    const next = join(root, ".renamed.txt.tmp");
    writeFileSync(next, "new content");
    utimesSync(next, old, old);
    renameSync(next, path);
    expect(await get("/renamed.txt")).toEqual({ status: 200, body: "new content" });
    // And a range of it comes from the new bytes too.
    const range = await sendRequest(server.url, "/renamed.txt", { headers: { Range: "bytes=0-2" } });
    expect([range.status, range.body.toString()]).toEqual([206, "new"]);
  });

  test("a file deleted between two requests is a 404 at once", async () => {
    keepAtOnce();
    writeFileSync(join(root, "gone.txt"), "here");
    expect((await get("/gone.txt")).body).toBe("here");
    rmSync(join(root, "gone.txt"));
    expect((await get("/gone.txt")).status).toBe(404);
  });
});

describe("remembered real paths", () => {
  test("a served folder swapped for a link out of the root is a 404 at once, not a remembered path", async () => {
    mkdirSync(join(root, "swap"));
    writeFileSync(join(root, "swap", "page.txt"), "inside");
    expect((await get("/swap/page.txt")).body).toBe("inside");
    renameSync(join(root, "swap"), join(base, "swap-was"));
    symlinkSync(join(base, "outside"), join(root, "swap"));
    const response = await get("/swap/page.txt");
    expect([response.status, response.body.includes("SECRET")]).toEqual([404, false]);
  });

  test("a served file replaced by a link out of the root is a 404 at once", async () => {
    writeFileSync(join(root, "was-file.txt"), "inside");
    expect((await get("/was-file.txt")).body).toBe("inside");
    rmSync(join(root, "was-file.txt"));
    symlinkSync(join(base, "outside", "page.txt"), join(root, "was-file.txt"));
    expect((await get("/was-file.txt")).status).toBe(404);
  });

  test("a handed-over answer serves only the same request and path, once", () => {
    const rootBytes = Buffer.from(root);
    writeFileSync(join(root, "handed.txt"), "x");
    const path = join(root, "handed.txt");
    const real = findInside(rootBytes, path)!;
    const fake = { ...real, key: "handed over" };
    const request = {};
    handOver(request, path, fake);
    expect(findInside(rootBytes, path, {})!.key).toBe(real.key);
    handOver(request, path, fake);
    expect(findInside(rootBytes, join(root, "other.txt"), request)).toBeUndefined();
    expect(findInside(rootBytes, path, request)!.key).toBe(real.key);
    handOver(request, path, fake);
    expect(findInside(rootBytes, path, request)).toBe(fake);
    expect(findInside(rootBytes, path, request)!.key).toBe(real.key);
  });

  test("findInside gives the same answer from memory as from the disk, and none for another root", () => {
    const rootBytes = Buffer.from(root);
    writeFileSync(join(root, "twice.txt"), "x");
    const path = Buffer.from(join(root, "twice.txt"));
    const first = findInside(rootBytes, path)!;
    const second = findInside(rootBytes, path)!;
    expect(second.path.equals(first.path)).toBe(true);
    expect(second.stats.ino).toBe(first.stats.ino);
    expect(findInside(Buffer.from(join(base, "outside")), path)).toBeUndefined();
    expect(findInside(rootBytes, Buffer.from(join(root, "no-such-file")))).toBeUndefined();
    expect(findInside(rootBytes, Buffer.from(join(root, "twice.txt", "below-a-file")))).toBeUndefined();
  });
});
