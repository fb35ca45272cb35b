// The self-signed certificate `gw serve --https` uses: made once for localhost, 127.0.0.1 and ::1
// with the selfsigned library, and kept per user in the cache folder until it nears expiry.
import { X509Certificate } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** A certificate and its key (PEM), where they are kept, and whether they were made just now. */
export interface LocalCertificate {
  cert: string;
  key: string;
  /** The certificate's file. */
  certFile: string;
  keyFile: string;
  isNew: boolean;
}

const DAY = 24 * 60 * 60 * 1000;

/** The folder gw keeps per-user files in: $XDG_CACHE_HOME/gw, else ~/.cache/gw. */
export function cacheFolder(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CACHE_HOME || join(env.HOME || env.USERPROFILE || ".", ".cache");
  return join(base, "gw");
}

function isUsable(cert: string): boolean {
  try {
    const parsed = new X509Certificate(cert);
    // Renewed a week early, so a long-running dev server does not cross the expiry.
    return Date.parse(parsed.validTo) - Date.now() > 7 * DAY && /IP Address:(?:::1|0:0:0:0:0:0:0:1)\b/.test(parsed.subjectAltName ?? "");
  } catch {
    return false;
  }
}

/** The cached localhost certificate, made (valid one year) when missing, unreadable or near expiry. */
export async function localCertificate(folder: string): Promise<LocalCertificate> {
  const certFile = join(folder, "localhost-cert.pem");
  const keyFile = join(folder, "localhost-key.pem");
  if (existsSync(certFile) && existsSync(keyFile)) {
    const cert = readFileSync(certFile, "utf8");
    if (isUsable(cert)) return { cert, key: readFileSync(keyFile, "utf8"), certFile, keyFile, isNew: false };
  }
  const { generate } = await import("selfsigned");
  const made = await generate([{ name: "commonName", value: "localhost" }], {
    keySize: 2048,
    algorithm: "sha256",
    notAfterDate: new Date(Date.now() + 365 * DAY),
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
      { name: "extKeyUsage", serverAuth: true },
      { name: "subjectAltName", altNames: [{ type: 2, value: "localhost" }, { type: 7, ip: "127.0.0.1" }, { type: 7, ip: "::1" }] },
    ],
  });
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  writeFileSync(keyFile, made.private, { mode: 0o600 });
  chmodSync(keyFile, 0o600);
  writeFileSync(certFile, made.cert);
  return { cert: made.cert, key: made.private, certFile, keyFile, isNew: true };
}
