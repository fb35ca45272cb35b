// The HTML pages the file server writes: directory listings (SimpleHTTPRequestHandler.list_directory)
// and error pages (BaseHTTPRequestHandler.send_error), both small, escaped and readable in a browser.

import { escapeHtml } from "../core/util.ts";

/** One entry of a directory listing. */
export interface ListingEntry {
  /** The name shown, as text. */
  name: string;
  /** The href, already percent-encoded (with a trailing "/" for folders). */
  href: string;
  isDirectory: boolean;
  isSymlink: boolean;
}

const STYLE =
  "body{font:16px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#222}" +
  "h1{font-size:1.3rem;word-break:break-all}ul{list-style:none;padding:0;margin:0}" +
  "li{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;padding:.1rem 0;word-break:break-all}" +
  "li.dir a{font-weight:600}a{color:#0645ad;text-decoration:none}a:hover{text-decoration:underline}" +
  "footer{color:#666;font-size:.85rem;margin-top:1rem}";

/** The start of a gw page up to </head>: doctype, charset, viewport, the title (already escaped) and a style sheet. */
export function pageHead(title: string, style: string): string {
  return `<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>${title}</title>\n` +
    (style === "" ? "" : `<style>${style}</style>\n`) + `</head>\n`;
}

/**
 * A directory listing: folders first, then files, each sorted without regard to case; folders end
 * in "/", symbolic links in "@" (as http.server marks them); a "../" link unless at the top.
 */
export function listingPage(path: string, entries: ListingEntry[], isTop: boolean): string {
  entries.sort((a, b) => {
    if (a.isDirectory !== b.isDirectory) return a.isDirectory ? -1 : 1;
    const left = a.name.toLowerCase();
    const right = b.name.toLowerCase();
    return left < right ? -1 : left > right ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
  const title = `Directory listing for ${escapeHtml(path)}`;
  let html = pageHead(title, STYLE) + `<body>\n<h1>${title}</h1>\n<hr>\n<ul>\n`;
  if (!isTop) html += `<li class="dir up"><a href="../">../</a></li>\n`;
  for (const entry of entries) {
    const mark = entry.isSymlink ? "@" : entry.isDirectory ? "/" : "";
    html += `<li${entry.isDirectory ? ' class="dir"' : ""}><a href="${escapeHtml(entry.href)}">${escapeHtml(entry.name)}${mark}</a></li>\n`;
  }
  const folders = entries.filter((entry) => entry.isDirectory).length;
  const count = `${folders} folder${folders === 1 ? "" : "s"}, ${entries.length - folders} file${entries.length - folders === 1 ? "" : "s"}`;
  return html + `</ul>\n<hr>\n<footer>${count}</footer>\n</body>\n</html>\n`;
}

/** An error page like http.server's: the code, the reason and a one-line explanation. */
export function errorPage(code: number, reason: string, explanation: string): string {
  return pageHead("Error response", "") + `<body>\n<h1>Error response</h1>\n<p>Error code: ${code}</p>\n` +
    `<p>Message: ${escapeHtml(reason)}.</p>\n<p>Error code explanation: ${code} - ${escapeHtml(explanation)}</p>\n</body>\n</html>\n`;
}
