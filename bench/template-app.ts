// The templates bench page as an application for `gw serve`: /string sends it as one string (an
// Html with nothing pending, so with Content-Length), /stream as a chunked stream (rows pending).
import { application } from "../src/app/router.ts";
import type { Html } from "../src/app/template.ts";
import { benchData, gwPage, gwStreamedPage } from "./template-page.ts";

const data = benchData();

export default application([
  ["/string", class { GET(): Html { return gwPage(data); } }],
  ["/stream", class { GET(): Html { return gwStreamedPage(data); } }],
]);
