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

  test("a file that is not PEM, a key of another certificate: one line naming both files, before binding", async () => {
    const app = tempApp({ "app.ts": APP, "notes.txt": "not a certificate\n" });
    try {
      for (const name of ["a", "b"]) {
        execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", `/CN=${name}`,
          "-keyout", join(app.dir, `${name}-key.pem`), "-out", join(app.dir, `${name}-cert.pem`)], { stdio: "ignore" });
      }
      const cases: [string[], RegExp][] = [
        [["--tls-cert", "notes.txt", "--tls-key", "a-key.pem"], /^gw: --tls-cert notes\.txt with --tls-key a-key\.pem: .*no start line\n$/],
        [["--tls-cert", "a-cert.pem", "--tls-key", "b-key.pem"], /^gw: --tls-cert a-cert\.pem with --tls-key b-key\.pem: .*key values mismatch\n$/],
        [["--tls-cert", "a-cert.pem", "--tls-key", "a-cert.pem", "--workers", "1"], /^gw: --tls-cert a-cert\.pem with --tls-key a-cert\.pem: .*unsupported\n$/],
      ];
      for (const [flags, line] of cases) {
        const run = await runGw(["serve", "app.ts", "--port", "0", ...flags], { cwd: app.dir });
        expect(run.exitCode, run.stderr).toBe(1);
        expect(run.stderr).toMatch(line);
      }
    } finally {
      app.remove();
    }
  }, 60_000);

  test("--workers serves HTTPS with --tls-cert/--tls-key and with --https", async () => {
    const app = tempApp({ "app.ts": APP });
    const env = { XDG_CACHE_HOME: join(app.dir, "cache") };
    try {
      execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
        "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", join(app.dir, "key.pem"), "-out", join(app.dir, "cert.pem")], { stdio: "ignore" });
      const given = await startGw(["serve", "app.ts", "--port", "0", "--workers", "2", "--tls-cert", "cert.pem", "--tls-key", "key.pem"], { cwd: app.dir });
      try {
        expect(given.readyLine).toBe(`Serving HTTPS on 127.0.0.1 port ${given.port} (https://127.0.0.1:${given.port}/) ...`);
        expect(await httpsGet("127.0.0.1", given.port, readFileSync(join(app.dir, "cert.pem"), "utf8"))).toBe("https");
      } finally {
        expect((await given.stop()).code).toBe(0);
      }
      const made = await startGw(["serve", "app.ts", "--port", "0", "--workers", "1", "--https"], { cwd: app.dir, env });
      try {
        expect(made.readyLine).toMatch(/^Serving HTTPS on /);
        expect(await httpsGet("127.0.0.1", made.port, readFileSync(join(app.dir, "cache", "gw", "localhost-cert.pem"), "utf8"))).toBe("https");
      } finally {
        expect((await made.stop()).code).toBe(0);
      }
    } finally {
      app.remove();
    }
  }, 60_000);
});
