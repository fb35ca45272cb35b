// A page with a layout, a loop and a slow part that streams: the layout's top and the table go
// out at once, the report when it is ready (?delay=MS, 500 by default). Run it with
// `npx gw serve examples/page.ts` and watch the report arrive half a second after the rest.
import { application, ctx, each, html, type Html, type PageVars } from "gw";

// web.py's base="layout": every Html a handler returns is wrapped in it, with the vars it set.
function layout(page: Html, vars: PageVars): Html {
  return html`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${vars.title ?? "gw"} · status</title></head>
<body>
<h1>${vars.title ?? "gw"}</h1>
${page}
<footer>served by gw</footer>
</body>
</html>
`;
}

interface Service {
  name: string;
  isUp: boolean;
  note: string;
}

const SERVICES: Service[] = [
  { name: "api", isUp: true, note: "p99 < 40 ms" },
  { name: "search <beta>", isUp: true, note: "re-indexing \"docs\" & 'blog'" },
  { name: "mail", isUp: false, note: "queue paused" },
];

// Stands in for a slow query: a promise inside `html` is streamed when it resolves.
function report(delay: number): Promise<Html> {
  return new Promise((resolve) => {
    setTimeout(() => resolve(html`<p>Report: ${SERVICES.filter((service) => !service.isUp).length} of ${SERVICES.length} down.</p>`), delay);
  });
}

function table(services: Service[]): Html {
  return html`<table>
${each(services, (service, loop) => html`<tr class="${loop.parity}"><td>${loop.index}</td><td>${service.name}</td><td>${service.isUp ? "up" : "down"}</td><td>${service.note}</td></tr>
`, html`<tr><td colspan="4">no services</td></tr>
`)}</table>`;
}

class Board {
  GET(): Html {
    ctx.vars.title = "Service board";
    const delay = Number(new URLSearchParams(ctx.environ.QUERY_STRING).get("delay") ?? 500);
    return html`${table(SERVICES)}
<section id="report">${report(delay)}</section>`;
  }
}

class Empty {
  GET(): Html {
    ctx.vars.title = "No services";
    return table([]);
  }
}

export default application([["/", Board], ["/empty", Empty]], { layout });
