// A form POST: GET shows an HTML form, POST reads the urlencoded body with input() and answers.
// `html` escapes what the user typed. Run it with `npx gw serve examples/form.ts`.
import { application, badRequest, html, input, type Html } from "gw";

const FORM = html`<!doctype html>
<title>Say hello</title>
<form method="post" action="">
  <label>Name <input name="name" required></label>
  <label>Colour <select name="colour"><option>red</option><option>green</option></select></label>
  <button>Send</button>
</form>
`;

class Greeting {
  GET(): Html {
    return FORM;
  }

  async POST(): Promise<Html> {
    const form = await input();
    const name = form.get("name")?.trim();
    if (!name) throw badRequest("a name is required\n");
    return html`<!doctype html>\n<p>Hello, ${name}! You like ${form.get("colour") ?? "no colour"}.</p>\n`;
  }
}

export default application([["/", Greeting]]);
