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
  // Every signal gw acts on is passed on, once: the child runs in a process group of its own, so
  // the terminal's Ctrl-C reaches this process only (not both, which would read as a second,
  // forcing SIGINT). `gw cgi` stays in the group: it may read a body from the terminal.
  const isCgi = process.argv[2] === "cgi";
  const child = spawn(process.execPath, [...flags, ...process.execArgv, ...process.argv.slice(1)], { stdio: "inherit", detached: !isCgi });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP", "SIGTTIN", "SIGTTOU"]) {
    process.on(signal, () => {
      if (!isCgi || signal !== "SIGINT") child.kill(signal);
    });
  }
  child.on("exit", (code, signal) => process.exit(code ?? (signal === null ? 1 : 128 + (signal === "SIGKILL" ? 9 : 15))));
} else {
  const { main } = await import("../dist/cli/main.js");
  process.exitCode = await main(process.argv.slice(2));
}
