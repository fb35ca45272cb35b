// A file download through gw.file_wrapper: the server stats the file, sends its Content-Length,
// and streams it in blocks; Content-Disposition makes the browser save it.
// Run it with `npx gw serve examples/download.ts` and open http://127.0.0.1:8000/report.csv.
import { join } from "node:path";
import { HeaderList, application, ctx, header } from "gw";

const REPORT = join(import.meta.dirname, "files", "report.csv");

export default application([
  ["/", () => "Download /report.csv\n"],
  ["/report.csv", () => {
    // HeaderList.addHeader quotes the parameter as wsgiref's add_header does.
    const disposition = new HeaderList();
    disposition.addHeader("Content-Disposition", "attachment", { filename: "report.csv" });
    header("Content-Type", "text/csv; charset=utf-8");
    header("Content-Disposition", disposition.get("Content-Disposition")!);
    return ctx.environ["gw.file_wrapper"]!(REPORT);
  }],
]);
