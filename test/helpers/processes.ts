// Looks at live processes through /proc (Linux), so tests can check that no CGI script is left.
import { readdirSync, readFileSync } from "node:fs";

/** The live (not zombie) processes whose process group is `pgid`. */
export function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // It exited while the folder was being read.
    }
    // Fields after the command name: state, ppid, pgrp. A zombie has ended; only its parent can reap it.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(pgrp) === pgid && state !== "Z" && state !== "X") members.push(Number(entry));
  }
  return members;
}
