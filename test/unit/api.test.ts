// The public API is what src/index.ts exports, and the README's library table lists exactly that.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, test } from "vitest";
import * as gw from "../../src/index.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

function tableNames(): Set<string> {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const start = readme.indexOf("| export | twin |");
  const table = readme.slice(start, readme.indexOf("\n\n", start));
  // The first column of each row: every `name` in it, without a parenthesised method list.
  const names = table.split("\n").slice(2).flatMap((row) => {
    const cell = row.split("|")[1]!.replace(/\([^)]*\)/g, "");
    return Array.from(cell.matchAll(/`([A-Za-z_][\w]*)`/g), (match) => match[1]!);
  });
  return new Set(names);
}

test("every value index.ts exports is in the README's table", () => {
  const listed = tableNames();
  expect(Object.keys(gw).filter((name) => !listed.has(name))).toEqual([]);
});

test("every name in the README's table is exported (as a value, or as a type of index.ts)", () => {
  const source = readFileSync(join(root, "src", "index.ts"), "utf8") + readFileSync(join(root, "src", "core", "types.ts"), "utf8");
  const missing = [...tableNames()].filter((name) => !(name in gw) && !new RegExp(`\\b(type|interface) ${name}\\b`).test(source));
  expect(missing).toEqual([]);
});

test("internals stay out of the public API", () => {
  for (const name of ["runHandler", "makeServerInfo", "logDate", "readyLine", "AccessLog", "environFromFetch", "FetchResponseHandler"]) {
    expect(name in gw, name).toBe(false);
  }
});
