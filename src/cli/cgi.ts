// `gw cgi APP`: runs the app once as a CGI program (wsgiref's CGIHandler().run(app)).
import { CgiHandler } from "../gateway/cgi-handler.ts";
import { loadApp } from "../dev/load.ts";
import type { Io } from "./io.ts";

/** Runs the app over this process's environment and stdio; resolves to 0 once the response is written. */
export async function runCgi(spec: string, io: Io): Promise<number> {
  const { app } = await loadApp(spec, io.cwd);
  const handler = new CgiHandler({ env: io.env });
  await handler.run(app);
  return 0;
}
