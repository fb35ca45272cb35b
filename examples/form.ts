// A form POST: GET shows an HTML form, POST reads the urlencoded body with input() and answers,
// escaping what the user typed. Run it with `npx gw serve examples/form.ts`.
import { application, badRequest, header, input } from "gw";

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escape = (text: string): string => text.replace(/[&<>"']/g, (char) => ESCAPES[char]!);

const FORM = `<!doctype html>
<title>Say hello</title>
<form method="post" action="">
  <label>Name <input name="name" required></label>
  <label>Colour <select name="colour"><option>red</option><option>green</option></select></label>
  <button>Send</button>
</form>
`;

class Greeting {
  GET(): string {
    header("Content-Type", "text/html; charset=utf-8");
    return FORM;
  }

  async POST(): Promise<string> {
    const form = await input();
    const name = form.get("name")?.trim();
    if (!name) throw badRequest("a name is required\n");
    header("Content-Type", "text/html; charset=utf-8");
    return `<!doctype html>\n<p>Hello, ${escape(name)}! You like ${escape(form.get("colour") ?? "no colour")}.</p>\n`;
  }
}

export default application([["/", Greeting]]);
