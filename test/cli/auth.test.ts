// --auth and --htpasswd from the outside: files made by Debian's htpasswd (apache2-utils) with
// bcrypt, SHA-1 and apr1-MD5 lines; in front of CGI scripts, files and apps (with and without reload).
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startGw, type GwServer } from "../helpers/gw.ts";

let root: string;
let passwords: string;

function basic(user: string, password: string): Record<string, string> {
  return { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` };
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "gw-auth-"));
  mkdirSync(join(root, "cgi-bin"));
  writeFileSync(join(root, "cgi-bin", "who.sh"), "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\necho \"$REMOTE_USER $AUTH_TYPE\"\n");
  chmodSync(join(root, "cgi-bin", "who.sh"), 0o755);
  writeFileSync(join(root, "file.txt"), "a file\n");
  writeFileSync(join(root, "app.ts"), `export default (environ: Record<string, unknown>, start: (s: string, h: [string, string][]) => unknown) => {
  start("200 OK", [["Content-Type", "text/plain"]]);
  return [String(environ.REMOTE_USER) + " " + String(environ.AUTH_TYPE) + " " + String(environ.HTTP_X_FORWARDED_FOR) + " " + String(environ.HTTP_REMOTE_USER)];
};
`);
  passwords = join(root, "htpasswd");
  // The real tool, one scheme per user: -B bcrypt, -s SHA-1, -m apr1-MD5.
  execFileSync("htpasswd", ["-c", "-b", "-B", passwords, "bea", "bcrypt pass"]);
  execFileSync("htpasswd", ["-b", "-s", passwords, "sam", "sha:pass"]);
  execFileSync("htpasswd", ["-b", "-m", passwords, "mo", "md5-pass"]);
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("gw serve --cgi with --auth and --htpasswd", () => {
  let gw: GwServer;
  beforeAll(async () => {
    gw = await startGw(["serve", "--cgi", "--directory", root, "--port", "0", "--auth", "ann:plain-secret", "--htpasswd", passwords]);
  });
  afterAll(() => gw?.stop());

  test("each htpasswd scheme and --auth let their user in; scripts get REMOTE_USER and AUTH_TYPE=Basic", async () => {
    for (const [user, password] of [["bea", "bcrypt pass"], ["sam", "sha:pass"], ["mo", "md5-pass"], ["ann", "plain-secret"]] as const) {
      const response = await gw.request("/cgi-bin/who.sh", { headers: basic(user, password) });
      expect([user, response.status, response.body.toString()]).toEqual([user, 200, `${user} Basic\n`]);
    }
  });

  test("a wrong password, an unknown user or no login: 401 with the Basic challenge, for scripts and files alike", async () => {
    for (const headers of [basic("bea", "wrong"), basic("sam", "sha"), basic("nobody", "x"), basic("ann", "plain-secret "), {}, { Authorization: "Bearer x" }]) {
      for (const path of ["/cgi-bin/who.sh", "/file.txt", "/"]) {
        const response = await gw.request(path, { headers });
        expect([path, response.status, response.headers["www-authenticate"]]).toEqual([path, 401, 'Basic realm="gw"']);
      }
    }
    expect((await gw.request("/file.txt", { headers: basic("mo", "md5-pass") })).body.toString()).toBe("a file\n");
  });

  test("the access log shows the user name; no password ever appears in the log", async () => {
    await gw.request("/file.txt", { headers: basic("ann", "plain-secret") });
    await gw.waitForStderr(/ - ann \[.*"GET \/file\.txt HTTP\/1\.1" 200/);
    expect(gw.stderr()).toMatch(/ - - \[.*"GET \/file\.txt HTTP\/1\.1" 401/);
    for (const secret of ["plain-secret", "bcrypt pass", "sha:pass", "md5-pass"]) expect(gw.stderr()).not.toContain(secret);
  });
});

describe("gw serve APP with --auth", () => {
  test.each([["--no-reload"], ["--reload"]])("%s: the app sees REMOTE_USER; underscore headers are dropped from its environ", async (reload) => {
    const args = ["serve", join(root, "app.ts"), "--port", "0", "--auth", "ann:plain-secret", ...(reload === "--no-reload" ? ["--no-reload"] : [])];
    const gw = await startGw(args);
    try {
      expect((await gw.request("/")).status).toBe(401);
      const headers = { ...basic("ann", "plain-secret"), "X-Forwarded-For": "1.2.3.4", "X_Forwarded_For": "6.6.6.6", "Remote_User": "admin" };
      const response = await gw.request("/", { headers });
      expect([response.status, response.body.toString()]).toEqual([200, "ann Basic 1.2.3.4 undefined"]);
    } finally {
      await gw.stop();
    }
  });

  test("--header-underscores keep keeps them", async () => {
    const gw = await startGw(["serve", join(root, "app.ts"), "--port", "0", "--no-reload", "--header-underscores", "keep"]);
    try {
      const response = await gw.request("/", { headers: { "X-Forwarded-For": "1.2.3.4", "X_Forwarded_For": "6.6.6.6", "Remote_User": "admin" } });
      expect(response.body.toString()).toBe("undefined undefined 1.2.3.4,6.6.6.6 admin");
    } finally {
      await gw.stop();
    }
  });

  test("a bad --auth value is one line that never repeats it (it may be a password)", async () => {
    const { runGw } = await import("../helpers/gw.ts");
    for (const [value, why] of [[":hunter2", "without a user name"], ["hunter2", 'without ":"']]) {
      const result = await runGw(["serve", "--directory", root, "--port", "0", "--auth", value!]);
      expect([result.exitCode, result.stderr.toString().trim()]).toEqual([1, `gw: --auth wants USER:PASSWORD; got a value ${why}`]);
      expect(result.stderr.toString()).not.toContain("hunter2");
    }
  });

  test("an htpasswd line gw cannot read is one line naming the file and line, without the hash", async () => {
    const bad = join(root, "bad-htpasswd");
    writeFileSync(bad, "eve:plaintext-hash-here\n");
    const { runGw } = await import("../helpers/gw.ts");
    const result = await runGw(["serve", "--directory", root, "--port", "0", "--htpasswd", bad]);
    expect([result.exitCode, result.stderr.toString().trim()]).toEqual([1, `gw: ${bad}:1: not a bcrypt, {SHA} or $apr1$ htpasswd line`]);
  });
});
