#!/usr/bin/env node
// bin/gw.js: checks the Node version, then hands over to the CLI. Nothing else belongs here.
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  process.stderr.write(`gw: needs Node.js 22.12 or newer; this is ${process.version}\n`);
  process.exit(1);
}
const { main } = await import("../dist/cli/main.js");
process.exitCode = await main(process.argv.slice(2));
