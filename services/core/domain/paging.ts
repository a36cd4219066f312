import { InvalidInputError } from "./errors.ts";

/** Clamps a requested page size: 0 means the default; above the maximum is refused. */
export function checkPageSize(requested: number, defaultSize: number, max: number): number {
  if (requested === 0) return defaultSize;
  if (!Number.isInteger(requested) || requested < 0 || requested > max) {
    throw new InvalidInputError("invalidValue", `page_size must be from 0 to ${max}, got ${requested}`);
  }
  return requested;
}

/** Page tokens are opaque to callers: base64url of a small JSON object. */
export function encodePageToken(value: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(value), "utf8").toString("base64url");
}

export function decodePageToken(token: string): Record<string, unknown> {
  if (token.length > 512) throw new InvalidInputError("invalidValue", "page_token is too long");
  try {
    const value: unknown = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
    if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error("not an object");
    return value as Record<string, unknown>;
  } catch {
    throw new InvalidInputError("invalidValue", "page_token is not one this service issued");
  }
}
