import { InvalidInputError } from "./errors.ts";

export const PROVIDER_KINDS = ["okta", "entra", "google", "onelogin", "jumpcloud", "generic"] as const;
export type ProviderKind = (typeof PROVIDER_KINDS)[number];

export type DirectoryState = "active" | "suspended";

export interface Directory {
  readonly id: string;
  readonly name: string;
  readonly provider: ProviderKind;
  readonly state: DirectoryState;
  /** Follow the SCIM interoperability profile strictly instead of tolerating IdP quirks. */
  readonly strict: boolean;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface ScimToken {
  readonly id: string;
  readonly directoryId: string;
  readonly name: string;
  readonly secretPrefix: string;
  readonly createdAt: Date;
  readonly lastUsedAt: Date | null;
  readonly revokedAt: Date | null;
}

export type ApiKeyScope = "admin" | "read";

export interface ApiKey {
  readonly id: string;
  readonly name: string;
  readonly scope: ApiKeyScope;
  /** The directories the key is limited to; empty for a global key (operators). */
  readonly directoryIds: readonly string[];
  readonly secretPrefix: string;
  readonly createdAt: Date;
  readonly lastUsedAt: Date | null;
  readonly revokedAt: Date | null;
}

/** Whether a key may reach every directory. */
export function isGlobalKey(key: ApiKey): boolean {
  return key.directoryIds.length === 0;
}

export const MAX_KEY_DIRECTORIES = 100;

/** The directories a new key is limited to: UUIDs, lower-cased, without repeats, bounded. */
export function checkKeyDirectories(raw: readonly string[]): string[] {
  if (raw.length > MAX_KEY_DIRECTORIES) throw new InvalidInputError("invalidValue", `a key may be limited to at most ${MAX_KEY_DIRECTORIES} directories`);
  return [...new Set(raw.map((id) => checkId("directory_ids", id)))].sort();
}

const MAX_NAME = 200;

/** A display name for a directory, token or key: trimmed, 1 to 200 characters, no controls. */
export function checkName(field: string, raw: string): string {
  const name = raw.trim();
  if (name.length === 0) throw new InvalidInputError("invalidValue", `${field} must not be empty`);
  if (name.length > MAX_NAME) throw new InvalidInputError("invalidValue", `${field} must be at most ${MAX_NAME} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) throw new InvalidInputError("invalidValue", `${field} must not contain control characters`);
  return name;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids are UUIDs; anything else can name nothing we hold. */
export function checkId(field: string, raw: string): string {
  if (!UUID.test(raw)) throw new InvalidInputError("invalidValue", `${field} must be a UUID, got ${JSON.stringify(raw.slice(0, 64))}`);
  return raw.toLowerCase();
}

export function isId(raw: string): boolean {
  return UUID.test(raw);
}
