// The workers bench's anchor: `node bench/cluster-hello.ts N` serves a hello on plain node:http in
// N node:cluster workers sharing one socket (SCHED_NONE, as gw's supervisor does), with no gw code
// at all, and prints "port P" once every worker listens. What 2 processes cost against 1 here is
// the kernel's and Node's share, not gw's.
import cluster from "node:cluster";
import { createServer } from "node:http";

const count = Number(process.argv[2] ?? "1");
if (cluster.isPrimary) {
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  let listening = 0;
  cluster.on("listening", (_worker, address) => {
    if (++listening === count) console.log(`Serving HTTP on 127.0.0.1 port ${address.port} (${count} node:cluster workers)`);
  });
  for (let i = 0; i < count; i++) cluster.fork();
  process.on("SIGTERM", () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill();
    process.exit(0);
  });
} else {
  // Port 0 in a cluster worker: the primary picks one port for all of them.
  createServer((_req, res) => {
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.end("Hello world!");
  }).listen(0, "127.0.0.1");
}
