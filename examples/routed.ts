// A web.py-style application: a URL table of regular expressions, handler classes whose GET and
// POST methods get the captured groups, a function handler, a redirect string and a processor.
// Run it with `npx gw serve examples/routed.ts`, then try /, /posts/1, /archive/2026/11, /latest.
import { application, ctx, header, json, notFound, type Processor } from "gw";

interface Post {
  id: number;
  title: string;
  month: string;
}

const POSTS: readonly Post[] = [
  { id: 1, title: "Hello, gw", month: "2026-10" },
  { id: 2, title: "Routing like web.py", month: "2026-11" },
  { id: 3, title: "Streaming bodies", month: "2026-11" },
];

class Index {
  GET(): string {
    return POSTS.map((post) => `${post.id}. ${post.title} (${ctx.home}/posts/${post.id})\n`).join("");
  }
}

class ShowPost {
  // "/posts/(\d+)": the group arrives as the first argument, a string.
  GET(id: string): unknown {
    const post = POSTS.find((candidate) => candidate.id === Number(id));
    if (post === undefined) throw notFound(`no post ${id}\n`);
    return json(post);
  }
}

class Archive {
  // "/archive/(\d{4})(?:/(\d{2}))?": the month is optional, so it may be undefined.
  GET(year: string, month: string | undefined): string {
    const prefix = month === undefined ? year : `${year}-${month}`;
    const found = POSTS.filter((post) => post.month.startsWith(prefix));
    return `${found.length} post(s) in ${prefix}\n` + found.map((post) => `- ${post.title}\n`).join("");
  }
}

/** Adds X-Handled-In to every response: a processor runs around each handler. */
const timing: Processor = async (handler) => {
  const started = performance.now();
  const result = await handler();
  header("X-Handled-In", `${(performance.now() - started).toFixed(3)}ms`);
  return result;
};

export default application(
  [
    ["/", Index],
    ["/posts/(\\d+)", ShowPost],
    ["/archive/(\\d{4})(?:/(\\d{2}))?", Archive],
    ["/hello/([^/]+)", (name: string) => `Hello, ${name}!\n`],
    ["/latest", `redirect /posts/${POSTS.length}`],
  ],
  { processors: [timing] },
);
