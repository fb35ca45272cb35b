#!/usr/bin/env node
// bin/gw.js: checks the Node version, then hands over to the CLI. Nothing else belongs here.
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  process.stderr.write(`gw: needs Node.js 22.12 or newer; this is ${process.version}\n`);
  process.exit(1);
}
if (!process.features.typescript) {
  // Node 22.12–22.17 strips TypeScript only behind a flag: run gw again with it.
  const { spawn } = await import("node:child_process");
  const flags = ["--experimental-transform-types", "--disable-warning=ExperimentalWarning"];
  const child = spawn(process.execPath, [...flags, ...process.execArgv, ...process.argv.slice(1)], { stdio: "inherit" });
  // The signals gw acts on are passed on. SIGINT is not: Ctrl-C in a terminal reaches the child
  // itself (the whole process group gets it), and a second one would force the stop. So on these
  // Node versions `kill -INT` must go to the process group (kill -INT -PGID) or be a SIGTERM.
  process.on("SIGINT", () => {});
  for (const signal of ["SIGTERM", "SIGHUP", "SIGTTIN", "SIGTTOU"]) process.on(signal, () => child.kill(signal));
  const { constants } = await import("node:os");
  child.on("exit", (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 1)));
} else {
  const { main } = await import("../dist/cli/main.js");
  process.exitCode = await main(process.argv.slice(2));
}
