// How a script starts: search words to argv (RFC 3875 §4.4), the environment (§4.1), the launcher.
import { chmodSync, closeSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { chooseLaunch, INHERITED_ENV, parseAssign, scriptEnv, searchArguments } from "../../../src/cgi/script.ts";
import { setupTestingDefaults } from "../../../src/core/util.ts";

describe("searchArguments", () => {
  test.each([
    ["", []],
    ["word", ["word"]],
    ["a+b+c", ["a", "b", "c"]],
    ["%41%42", ["AB"]],
    ["a;b/c?d:e@f&g,h$i", ["a;b/c?d:e@f&g,h$i"]],
    ["x=1", []],
    ["+a", []],
    ["a+", []],
    ["-rf", []],
    ["ok+--help", []],
    ["%2D%2Dhelp", []],
    ["%C3", []],
    ["a%00", []],
    ["a b", []],
    ["a\"b", []],
  ])("%j gives %j", (query, argv) => {
    expect(searchArguments(query)).toEqual(argv);
  });
});

describe("scriptEnv", () => {
  const environ = setupTestingDefaults({
    REQUEST_METHOD: "GET", SERVER_NAME: "host", SERVER_PORT: "8000", SERVER_PROTOCOL: "HTTP/1.1", REMOTE_ADDR: "10.0.0.1",
    QUERY_STRING: "q", HTTP_PROXY: "http://evil/", HTTP_AUTHORIZATION: "Basic " + Buffer.from("bob:pw").toString("base64"),
    HTTP_PROXY_AUTHORIZATION: "Basic eA==", HTTP_X_THING: "1", "gw.extra": "not a variable",
  });

  test("a fresh object: the base, the meta-variables, HTTP_* without Proxy or credentials", () => {
    const base = { PATH: "/bin" };
    const env = scriptEnv(base, environ, { name: "/cgi-bin/x", pathInfo: "/p", pathTranslated: "/srv/p" });
    expect(env).toMatchObject({ PATH: "/bin", GATEWAY_INTERFACE: "CGI/1.1", SCRIPT_NAME: "/cgi-bin/x", PATH_INFO: "/p", PATH_TRANSLATED: "/srv/p", QUERY_STRING: "q", AUTH_TYPE: "Basic", REMOTE_USER: "bob", HTTP_X_THING: "1" });
    expect([env.HTTP_PROXY, env.HTTP_AUTHORIZATION, env.HTTP_PROXY_AUTHORIZATION, env["gw.extra"]]).toEqual([undefined, undefined, undefined, undefined]);
    expect(base).toEqual({ PATH: "/bin" });
    expect(env).not.toBe(base);
  });

  test("INHERITED_ENV names locale and search-path variables only", () => {
    expect(INHERITED_ENV).toContain("PATH");
    expect(INHERITED_ENV.filter((name) => /KEY|TOKEN|SECRET|PASS|NODE|PYTHON|HOME/.test(name))).toEqual([]);
  });
});

describe("chooseLaunch", () => {
  const dir = mkdtempSync(join(tmpdir(), "gw-launch-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string, mode: number): string => {
    writeFileSync(join(dir, name), text);
    chmodSync(join(dir, name), mode);
    return join(dir, name);
  };

  test("executable with #!: runs as itself", async () => {
    const path = file("a.cgi", "#!/bin/sh\n", 0o755);
    expect(await chooseLaunch(path, 0o100755)).toEqual({ command: path, args: [] });
  });

  test("not executable, or executable without #! or ELF: nothing, whatever the extension", async () => {
    expect(await chooseLaunch(file("b.py", "print()", 0o644), 0o100644)).toBeUndefined();
    expect(await chooseLaunch(file("c.ts", "1", 0o644), 0o100644)).toBeUndefined();
    expect(await chooseLaunch(file("d.sh", "echo", 0o644), 0o100644)).toBeUndefined();
    expect(await chooseLaunch(file("e.txt", "x", 0o644), 0o100644)).toBeUndefined();
    expect(await chooseLaunch(file("f.bin", "echo shell", 0o755), 0o100755)).toBeUndefined();
    expect(await chooseLaunch(file("g.py", "print()", 0o755), 0o100755)).toBeUndefined();
  });

  test("ELF: a real program of this machine runs as itself; a fake or foreign ELF header does not (execvp would give it to /bin/sh)", async () => {
    // This very Node binary is an ELF program for this machine.
    const real = Buffer.alloc(20);
    const fd = openSync(process.execPath, "r");
    readSync(fd, real, 0, 20, 0);
    closeSync(fd);
    const copy = join(dir, "real.bin");
    writeFileSync(copy, real);
    chmodSync(copy, 0o755);
    expect(await chooseLaunch(copy, 0o100755)).toEqual({ command: copy, args: [] });
    expect(await chooseLaunch(file("fake.bin", "\x7fELF\nprintf 'ran by sh'\n", 0o755), 0o100755)).toBeUndefined();
    const foreign = Buffer.from(real);
    foreign.writeUInt16LE(0x1234, 18);
    writeFileSync(join(dir, "foreign.bin"), foreign);
    chmodSync(join(dir, "foreign.bin"), 0o755);
    expect(await chooseLaunch(join(dir, "foreign.bin"), 0o100755)).toBeUndefined();
  });

  test("--cgi-assign: an assigned extension runs through its program, with or without the execute bit", async () => {
    const assign = parseAssign([".py=python3", "ts=/usr/local/bin/node", ".SH=/bin/sh"]);
    expect(await chooseLaunch(file("h.py", "print()", 0o644), 0o100644, assign)).toEqual({ command: "python3", args: [join(dir, "h.py")] });
    expect(await chooseLaunch(file("i.TS", "1", 0o755), 0o100755, assign)).toEqual({ command: "/usr/local/bin/node", args: [join(dir, "i.TS")] });
    expect(await chooseLaunch(file("j.sh", "echo", 0o644), 0o100644, assign)).toEqual({ command: "/bin/sh", args: [join(dir, "j.sh")] });
    expect(await chooseLaunch(file("k.txt", "x", 0o644), 0o100644, assign)).toBeUndefined();
    expect(() => parseAssign(["py"])).toThrow("EXT=PROGRAM");
    expect(() => parseAssign([".py="])).toThrow("EXT=PROGRAM");
  });
});
