// The page every templates bench renders: 1,000 rows of the same data, written with gw's `html`.
// bench/templates.ts renders it with other engines too; bench/template-app.ts serves it.
import { each, html, type Html } from "../src/app/template.ts";

/** One row of the bench table. */
export interface Row {
  id: number;
  name: string;
  email: string;
  city: string;
  score: number;
  isActive: boolean;
}

/** The page's data: 1,000 rows, some with characters to escape in every escaped field. */
export function benchData(count: number = 1000): { title: string; rows: Row[] } {
  const cities = ["Zürich", "São Paulo", "Tokyo", "Lagos", "Ann Arbor <MI>", "Saint-Étienne & co"];
  const rows: Row[] = [];
  for (let i = 0; i < count; i++) {
    rows.push({
      id: i + 1,
      name: i % 10 === 0 ? `O'Brien "Bob" #${i}` : `User ${i}`,
      email: `user${i}@example.com`,
      city: cities[i % cities.length]!,
      score: (i * 7919) % 1000,
      isActive: i % 3 !== 0,
    });
  }
  return { title: "Users & <friends>", rows };
}

/** What the page shows. */
export type Data = ReturnType<typeof benchData>;

// ---- gw ----
const gwRow = (row: Row, parity: string): Html =>
  html`<tr class="${parity}"><td>${row.id}</td><td><a href="/users/${row.id}">${row.name}</a></td><td>${row.email}</td><td>${row.city}</td><td>${row.score}</td><td>${row.isActive ? "yes" : "no"}</td></tr>
`;
const gwRows = (data: Data): Html => each(data.rows, (row, loop) => gwRow(row, loop.parity));

/** The page, in gw's `html`. */
export const gwPage = (data: Data): Html => html`<!doctype html>
<html><head><title>${data.title}</title></head>
<body><h1>${data.title}</h1>
<table>
${gwRows(data)}</table>
</body></html>
`;

/** The same page with its rows behind a promise, so it is sent as a stream: the head, then the rest. */
export const gwStreamedPage = (data: Data): Html => html`<!doctype html>
<html><head><title>${data.title}</title></head>
<body><h1>${data.title}</h1>
<table>
${Promise.resolve(data).then(gwRows)}</table>
</body></html>
`;

