// Bearer secrets (SCIM tokens, API keys): `<prefix>_<lookup>_<secret>`. The lookup half
// finds the row; only SHA-256 of the secret half is stored, and it is compared in constant
// time. The secrets are 256 random bits, so a fast hash is enough (no password stretching).
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

export interface IssuedSecret {
  /** The whole bearer value, shown to its owner once. */
  readonly value: string;
  readonly lookup: string;
  readonly hash: Buffer;
  /** Enough to recognise the secret in a list, not to use it. */
  readonly displayPrefix: string;
}

export function issueSecret(prefix: "rst_scim" | "rst_key"): IssuedSecret {
  const lookup = randomBytes(9).toString("base64url");
  const secret = randomBytes(32).toString("base64url");
  const value = `${prefix}_${lookup}_${secret}`;
  return { value, lookup, hash: hashSecret(secret), displayPrefix: `${prefix}_${lookup}` };
}

export function hashSecret(secret: string): Buffer {
  return createHash("sha256").update(secret, "utf8").digest();
}

/** Splits a presented bearer value; undefined when it cannot be one of ours. */
export function parseSecret(
  prefix: "rst_scim" | "rst_key",
  presented: string,
): { lookup: string; secret: string } | undefined {
  if (presented.length > 256 || !presented.startsWith(`${prefix}_`)) return undefined;
  const rest = presented.slice(prefix.length + 1);
  const match = /^([A-Za-z0-9_-]{12})_([A-Za-z0-9_-]{43})$/.exec(rest);
  if (!match) return undefined;
  return { lookup: match[1]!, secret: match[2]! };
}

export function secretMatches(secret: string, storedHash: Uint8Array): boolean {
  const presented = hashSecret(secret);
  return storedHash.length === presented.length && timingSafeEqual(presented, storedHash);
}
