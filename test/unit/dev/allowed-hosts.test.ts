// The dev server's Host allow-list against DNS rebinding (#16 item 9).
import { networkInterfaces } from "node:os";
import { describe, expect, test } from "vitest";
import { hostChecker, hostName, refuseHost } from "../../../src/dev/allowed-hosts.ts";
import { call } from "../../helpers/call.ts";

describe("hostChecker", () => {
  test("local names, loopback addresses and the bound host pass; other names do not", () => {
    const isAllowed = hostChecker("127.0.0.1");
    for (const host of ["localhost", "localhost:8000", "LOCALHOST.", "app.localhost:5173", "127.0.0.1:8000", "127.1.2.3", "[::1]:8000", undefined, ""]) {
      expect(isAllowed(host), String(host)).toBe(true);
    }
    for (const host of ["rebind.attacker.example", "rebind.attacker.example:8000", "localhost.attacker.example", "127.0.0.1.nip.io", "10.0.0.1", "[fe80::1]", "example.com"]) {
      expect(isAllowed(host), host).toBe(false);
    }
  });

  test("the bound host passes; a wildcard bind lets this machine's own addresses pass", () => {
    expect(hostChecker("my-box.lan")("my-box.lan:8000")).toBe(true);
    expect(hostChecker("my-box.lan")("other.lan:8000")).toBe(false);
    const address = Object.values(networkInterfaces()).flat().find((entry) => entry?.family === "IPv4")!.address;
    expect(hostChecker("0.0.0.0")(`${address}:8000`)).toBe(true);
    expect(hostChecker("0.0.0.0")("rebind.attacker.example")).toBe(false);
  });

  test("--allowed-host: a name, .name for it and its subdomains, all for anything", () => {
    const isAllowed = hostChecker("127.0.0.1", ["dev.example", ".corp.test"]);
    expect(["dev.example:80", "DEV.example", "corp.test", "a.b.corp.test"].map(isAllowed)).toEqual([true, true, true, true]);
    expect(["sub.dev.example", "evilcorp.test", "corp.test.evil"].map(isAllowed)).toEqual([false, false, false]);
    expect(hostChecker("127.0.0.1", ["all"])("anything.example")).toBe(true);
  });

  test("hostName strips the port, brackets and a final dot", () => {
    expect(["Example.COM:80", "[::1]:8000", "a.b.", "x"].map(hostName)).toEqual(["example.com", "::1", "a.b", "x"]);
  });
});

test("the refusal is a 403 that says how to allow the host", async () => {
  const response = await call(refuseHost, "/", { environ: { HTTP_HOST: "rebind.attacker.example:8000" } });
  expect(response.code).toBe(403);
  expect(response.body).toContain("--allowed-host rebind.attacker.example");
  expect(response.body).toContain("--allowed-host .attacker.example");
});
