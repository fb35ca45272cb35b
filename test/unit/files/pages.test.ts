// The listing and error pages: escaping, order, marks and the parent link.
import { describe, expect, test } from "vitest";
import { escapeHtml } from "../../../src/core/util.ts";
import { errorPage, listingPage, type ListingEntry } from "../../../src/files/pages.ts";

const entry = (name: string, isDirectory = false, isSymlink = false): ListingEntry => ({ name, href: encodeURIComponent(name) + (isDirectory ? "/" : ""), isDirectory, isSymlink });

describe("pages", () => {
  test("escapeHtml escapes the five special characters, and only them", () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe("&lt;a href=&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;");
    expect(escapeHtml("plain text, ünïcode")).toBe("plain text, ünïcode");
    // The same regular expression twice in a row: no lastIndex left over from the first call.
    expect([escapeHtml("a&b"), escapeHtml("c&d")]).toEqual(["a&amp;b", "c&amp;d"]);
  });

  test("a listing: escaped title and names, folders first, marks, a parent link below the top", () => {
    const html = listingPage("/a <b>/", [entry("b.txt"), entry("Zed", true), entry("a.txt"), entry("link", false, true), entry("<i>.txt")], false);
    expect(html).toContain("<title>Directory listing for /a &lt;b&gt;/</title>");
    const names = Array.from(html.matchAll(/<a href="[^"]*">([^<]*)<\/a>/g), (match) => match[1]);
    expect(names).toEqual(["../", "Zed/", "&lt;i&gt;.txt", "a.txt", "b.txt", "link@"]);
    expect(html).toContain('<a href="%3Ci%3E.txt">');
    expect(listingPage("/", [], true)).not.toContain('href="../"');
  });

  test("an error page has the code, the reason and the explanation, escaped", () => {
    const html = errorPage(404, "No such <script>", "Nothing matches the given URI.");
    expect(html).toContain("<p>Error code: 404</p>");
    expect(html).toContain("<p>Message: No such &lt;script&gt;.</p>");
    expect(html).toContain("<p>Error code explanation: 404 - Nothing matches the given URI.</p>");
  });
});
