// The dev server's guard against DNS rebinding (as Vite's and webpack-dev-server's allowedHosts):
// a page on an attacker's name that re-resolves to 127.0.0.1 reaches the dev server with its own
// name in Host, so in dev mode only local names, this machine's addresses and chosen names pass.
import { isIP } from "node:net";
import { networkInterfaces } from "node:os";
import type { App } from "../core/types.ts";

/** The value of --allowed-host that turns the guard off. */
export const ALLOW_ALL = "all";

/** The host name of a Host header value: lower case, without port, brackets or a final dot. */
export function hostName(host: string): string {
  let name = host;
  if (name.startsWith("[")) {
    const close = name.indexOf("]");
    name = close === -1 ? name : name.slice(1, close);
  } else {
    const colon = name.indexOf(":");
    if (colon !== -1) name = name.slice(0, colon);
  }
  name = name.toLowerCase();
  return name.endsWith(".") ? name.slice(0, -1) : name;
}

/** Whether `name` is a loopback address: 127.0.0.0/8 or ::1 (a rebinding needs a name, never an address). */
function isLoopback(name: string): boolean {
  if (isIP(name) === 4) return name.startsWith("127.");
  return isIP(name) === 6 && (name === "::1" || name === "0:0:0:0:0:0:0:1");
}

/** This machine's own addresses, for a server bound to every interface (0.0.0.0 or ::). */
function localAddresses(): string[] {
  const addresses: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const entry of list ?? []) addresses.push(entry.address.toLowerCase());
  }
  return addresses;
}

/**
 * A test of Host header values for a dev server bound to `boundHost`: localhost and *.localhost,
 * loopback addresses, the bound host (every local address when it is a wildcard), and each of
 * `allowed` ("name", ".name" for it and its subdomains, or "all" for anything) pass.
 */
export function hostChecker(boundHost: string, allowed: readonly string[] = []): (host: string | undefined) => boolean {
  const names = new Set<string>();
  const suffixes: string[] = [];
  for (const entry of allowed) {
    const name = hostName(entry.trim());
    if (name === ALLOW_ALL) return () => true;
    if (name.startsWith(".")) {
      suffixes.push(name);
      names.add(name.slice(1));
    } else if (name !== "") {
      names.add(name);
    }
  }
  const bound = hostName(boundHost);
  if (bound === "" || bound === "0.0.0.0" || bound === "::") for (const address of localAddresses()) names.add(address);
  else names.add(bound);
  return (host) => {
    // No Host (HTTP/1.0) is no browser: a rebinding page always sends its own name.
    if (host === undefined || host === "") return true;
    const name = hostName(host);
    if (name === "localhost" || name.endsWith(".localhost") || isLoopback(name) || names.has(name)) return true;
    return suffixes.some((suffix) => name.endsWith(suffix));
  };
}

/** The 403 a dev server sends for a Host it does not serve, saying how to allow it. */
export const refuseHost: App = (environ, startResponse) => {
  const name = hostName(String(environ.HTTP_HOST ?? ""));
  const parent = name.includes(".") && isIP(name) === 0 ? name.slice(name.indexOf(".")) : undefined;
  const text = [
    `403 Forbidden: the dev server does not answer to the host "${name}".`,
    "",
    "With reload on, gw serves only localhost, loopback addresses and the host it listens on, so",
    "that a web page whose name re-resolves to this machine (DNS rebinding) cannot read your app.",
    "",
    `To allow this host, start gw with:  gw serve ... --allowed-host ${name}`,
    ...(parent === undefined ? [] : [`For every name under ${parent.slice(1)}:  --allowed-host ${parent}`]),
    "To allow any host:  --allowed-host all   (or --no-reload, which turns the dev server off)",
    "",
  ].join("\n");
  startResponse("403 Forbidden", [["Content-Type", "text/plain; charset=utf-8"], ["Cache-Control", "no-store"]]);
  return [text];
};
