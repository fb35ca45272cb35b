// `gw serve --https` and `--tls-cert/--tls-key` from the outside: the ready line says HTTPS, the
// app sees gw.url_scheme "https", and a client that trusts only the generated certificate
// connects to 127.0.0.1, localhost and ::1; the certificate is made once and then reused.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { runGw, startGw, tempApp } from "../helpers/gw.ts";

const APP = `export default (environ: Record<string, unknown>, start: (s: string, h: [string, string][]) => unknown) => {
  start("200 OK", [["Content-Type", "text/plain"]]);
  return [String(environ["gw.url_scheme"])];
};
`;

/** GET / over TLS, trusting only `ca`; resolves to the body. */
function httpsGet(host: string, port: number, ca: string, servername?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: "/", ca, servername, agent: false, timeout: 5_000 }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (chunk: Buffer) => parts.push(chunk));
      res.on("end", () => resolve(Buffer.concat(parts).toString()));
    });
    req.on("error", reject);
    req.end();
  });
}

describe.concurrent("HTTPS", () => {
  test("--https makes a certificate for localhost, 127.0.0.1 and ::1 once, and reuses it", async () => {
    const app = tempApp({ "app.ts": APP });
    const env = { XDG_CACHE_HOME: join(app.dir, "cache") };
    try {
      const gw = await startGw(["serve", "app.ts", "--port", "0", "--https", "--host", "localhost"], { cwd: app.dir, env });
      const certFile = join(app.dir, "cache", "gw", "localhost-cert.pem");
      try {
        expect(gw.readyLine).toBe(`Serving HTTPS on 127.0.0.1 port ${gw.port} (https://127.0.0.1:${gw.port}/) ...`);
        await gw.waitForStderr(new RegExp(`self-signed certificate .* made now in ${certFile.replaceAll("/", "\\/")}`));
        const ca = readFileSync(certFile, "utf8");
        expect(await httpsGet("127.0.0.1", gw.port, ca)).toBe("https");
        expect(await httpsGet("::1", gw.port, ca)).toBe("https");
        expect(await httpsGet("127.0.0.1", gw.port, ca, "localhost")).toBe("https");
      } finally {
        await gw.stop();
      }
      const again = await startGw(["serve", "app.ts", "--port", "0", "--https", "--no-reload"], { cwd: app.dir, env });
      try {
        await again.waitForStderr(new RegExp(`self-signed certificate .* from ${certFile.replaceAll("/", "\\/")}`));
        expect(await httpsGet("127.0.0.1", again.port, readFileSync(certFile, "utf8"))).toBe("https");
      } finally {
        await again.stop();
      }
    } finally {
      app.remove();
    }
  }, 60_000);

  test("--tls-cert and --tls-key serve the given certificate; one without the other is one line", async () => {
    const app = tempApp({ "app.ts": APP });
    try {
      execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
        "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", join(app.dir, "key.pem"), "-out", join(app.dir, "cert.pem")], { stdio: "ignore" });
      const gw = await startGw(["serve", "app.ts", "--port", "0", "--tls-cert", "cert.pem", "--tls-key", "key.pem"], { cwd: app.dir });
      try {
        expect(gw.readyLine).toMatch(/^Serving HTTPS on 127\.0\.0\.1 port \d+ \(https:\/\/127\.0\.0\.1:\d+\/\) \.\.\.$/);
        expect(await httpsGet("127.0.0.1", gw.port, readFileSync(join(app.dir, "cert.pem"), "utf8"))).toBe("https");
      } finally {
        await gw.stop();
      }
      const run = await runGw(["serve", "app.ts", "--port", "0", "--tls-cert", "cert.pem"], { cwd: app.dir });
      expect([run.exitCode, run.stderr]).toEqual([1, "gw: --tls-cert and --tls-key go together\n"]);
    } finally {
      app.remove();
    }
  }, 60_000);
});
