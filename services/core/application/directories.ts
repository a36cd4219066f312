// Use cases for directories, SCIM tokens and API keys.
import {
  checkId,
  checkKeyDirectories,
  checkName,
  PROVIDER_KINDS,
  type ApiKey,
  type ApiKeyScope,
  type Directory,
  type DirectoryState,
  type ProviderKind,
  type ScimToken,
} from "../domain/directory.ts";
import { InvalidInputError, NotFoundError, UnauthenticatedError } from "../domain/errors.ts";
import { newId } from "../../platform/ids.ts";
import { checkPageSize, decodePageToken, encodePageToken } from "../domain/paging.ts";
import { issueSecret, parseSecret, secretMatches } from "../domain/secrets.ts";
import type { Page, Store, StoredSecret } from "./store.ts";
import { TtlCache } from "./ttl-cache.ts";

export const CREDENTIAL_CACHE_MS = 2_000;

// last_used_at is informative; writing it on every request would put a row lock on the hot
// path, so it is refreshed at most this often.
const TOUCH_INTERVAL_MS = 60_000;

function checkProvider(provider: string): ProviderKind {
  if (!(PROVIDER_KINDS as readonly string[]).includes(provider)) {
    throw new InvalidInputError("invalidValue", `provider must be one of ${PROVIDER_KINDS.join(", ")}`);
  }
  return provider as ProviderKind;
}

export class DirectoryUseCases {
  private readonly store: Store;
  // Credentials are looked up on every request; a short-lived cache keeps that off the
  // database. Revocation and suspension through this process clear it at once; through
  // another replica they take effect within CREDENTIAL_CACHE_MS.
  private readonly scimTokenCache = new TtlCache<(StoredSecret<ScimToken> & { directory: Directory }) | undefined>(CREDENTIAL_CACHE_MS);
  private readonly apiKeyCache = new TtlCache<StoredSecret<ApiKey> | undefined>(CREDENTIAL_CACHE_MS);
  // Directories as the access check on every RPC sees them (existence, suspension); same
  // freshness as the credentials.
  private readonly directoryCache = new TtlCache<Directory | undefined>(CREDENTIAL_CACHE_MS);
  /** When this process last wrote last_used_at, per credential. */
  private readonly touchedAt = new Map<string, number>();

  constructor(store: Store) {
    this.store = store;
  }

  async createDirectory(input: { name: string; provider: string; strict: boolean }): Promise<Directory> {
    const now = new Date();
    const directory: Directory = {
      id: newId(),
      name: checkName("name", input.name),
      provider: checkProvider(input.provider),
      state: "active",
      strict: input.strict,
      createdAt: now,
      updatedAt: now,
    };
    await this.store.transact((repos) => repos.directories.insert(directory));
    return directory;
  }

  async getDirectory(id: string): Promise<Directory> {
    const directory = await this.store.read.directories.get(checkId("id", id));
    if (!directory) throw new NotFoundError(`directory ${id} not found`);
    return directory;
  }

  /**
   * The directory, read through a cache at most CREDENTIAL_CACHE_MS old (cleared at once by
   * updateDirectory in this process): for checks made on every request.
   */
  async cachedDirectory(id: string): Promise<Directory> {
    const dirId = checkId("directory_id", id);
    const directory = await this.directoryCache.get(dirId, () => this.store.read.directories.get(dirId));
    if (!directory) throw new NotFoundError(`directory ${dirId} not found`);
    return directory;
  }

  /** With onlyIds, lists only those directories (a key limited to them). */
  async listDirectories(pageSize: number, pageToken: string, onlyIds?: readonly string[]): Promise<Page<Directory>> {
    const size = checkPageSize(pageSize, 50, 200);
    let afterId: string | undefined;
    if (pageToken !== "") {
      const after = decodePageToken(pageToken).after;
      if (typeof after !== "string") throw new InvalidInputError("invalidValue", "page_token is not one this service issued");
      afterId = checkId("page_token", after);
    }
    const rows = await this.store.read.directories.list(size + 1, afterId, onlyIds);
    const items = rows.slice(0, size);
    const last = items.at(-1);
    return { items, nextPageToken: rows.length > size && last ? encodePageToken({ after: last.id }) : "" };
  }

  async updateDirectory(input: {
    id: string;
    name?: string | undefined;
    state?: DirectoryState | undefined;
    strict?: boolean | undefined;
  }): Promise<Directory> {
    const id = checkId("id", input.id);
    const updated = await this.store.transact(async (repos) => {
      const current = await repos.directories.getForUpdate(id);
      if (!current) throw new NotFoundError(`directory ${id} not found`);
      const updated: Directory = {
        ...current,
        name: input.name === undefined ? current.name : checkName("name", input.name),
        state: input.state ?? current.state,
        strict: input.strict ?? current.strict,
        updatedAt: new Date(),
      };
      await repos.directories.update(updated);
      this.scimTokenCache.clear();
      return updated;
    });
    this.directoryCache.clear();
    return updated;
  }

  async createScimToken(directoryId: string, name: string): Promise<{ token: ScimToken; secret: string }> {
    const dirId = checkId("directory_id", directoryId);
    const tokenName = checkName("name", name === "" ? "scim" : name);
    const issued = issueSecret("rst_scim");
    const token: ScimToken = {
      id: newId(),
      directoryId: dirId,
      name: tokenName,
      secretPrefix: issued.displayPrefix,
      createdAt: new Date(),
      lastUsedAt: null,
      revokedAt: null,
    };
    await this.store.transact(async (repos) => {
      if (!(await repos.directories.get(dirId))) throw new NotFoundError(`directory ${dirId} not found`);
      await repos.scimTokens.insert(token, issued.lookup, issued.hash);
    });
    return { token, secret: issued.value };
  }

  async listScimTokens(directoryId: string): Promise<ScimToken[]> {
    const dirId = checkId("directory_id", directoryId);
    await this.getDirectory(dirId);
    return this.store.read.scimTokens.listForDirectory(dirId);
  }

  async revokeScimToken(directoryId: string, id: string): Promise<ScimToken> {
    const dirId = checkId("directory_id", directoryId);
    const tokenId = checkId("id", id);
    return this.store.transact(async (repos) => {
      const token = await repos.scimTokens.get(dirId, tokenId);
      if (!token) throw new NotFoundError(`SCIM token ${tokenId} not found in directory ${dirId}`);
      if (token.revokedAt) return token;
      const revokedAt = new Date();
      await repos.scimTokens.revoke(tokenId, revokedAt);
      this.scimTokenCache.clear();
      return { ...token, revokedAt };
    });
  }

  /** Resolves a presented SCIM bearer secret to an active directory, or throws Unauthenticated. */
  async authenticateScimToken(presented: string): Promise<{ directory: Directory; tokenId: string }> {
    const parsed = parseSecret("rst_scim", presented);
    if (!parsed) throw new UnauthenticatedError("invalid or revoked SCIM token");
    const entry = await this.scimTokenCache.get(parsed.lookup, async () => {
      const stored = await this.store.read.scimTokens.findByLookup(parsed.lookup);
      const directory = stored && (await this.store.read.directories.get(stored.record.directoryId));
      return stored && directory ? { ...stored, directory } : undefined;
    });
    // The secret is checked on every call, cached or not.
    if (!entry || entry.record.revokedAt || !secretMatches(parsed.secret, entry.secretHash)) {
      throw new UnauthenticatedError("invalid or revoked SCIM token");
    }
    if (entry.directory.state !== "active") throw new UnauthenticatedError("the token's directory is suspended");
    await this.touchIfStale(entry.record, (id, at) => this.store.read.scimTokens.touch(id, at));
    return { directory: entry.directory, tokenId: entry.record.id };
  }

  /** directoryIds limits the key to those directories (each must exist); empty: a global key. */
  async createApiKey(name: string, scope: ApiKeyScope, directoryIds: readonly string[] = []): Promise<{ key: ApiKey; secret: string }> {
    const limitedTo = checkKeyDirectories(directoryIds);
    const issued = issueSecret("rst_key");
    const key: ApiKey = {
      id: newId(),
      name: checkName("name", name),
      scope,
      directoryIds: limitedTo,
      secretPrefix: issued.displayPrefix,
      createdAt: new Date(),
      lastUsedAt: null,
      revokedAt: null,
    };
    await this.store.transact(async (repos) => {
      for (const id of limitedTo) {
        if (!(await repos.directories.get(id))) throw new NotFoundError(`directory ${id} not found`);
      }
      await repos.apiKeys.insert(key, issued.lookup, issued.hash);
    });
    return { key, secret: issued.value };
  }

  listApiKeys(): Promise<ApiKey[]> {
    return this.store.read.apiKeys.list();
  }

  async revokeApiKey(id: string): Promise<ApiKey> {
    const keyId = checkId("id", id);
    return this.store.transact(async (repos) => {
      const key = await repos.apiKeys.get(keyId);
      if (!key) throw new NotFoundError(`API key ${keyId} not found`);
      if (key.revokedAt) return key;
      const revokedAt = new Date();
      await repos.apiKeys.revoke(keyId, revokedAt);
      this.apiKeyCache.clear();
      return { ...key, revokedAt };
    });
  }

  async authenticateApiKey(presented: string): Promise<ApiKey> {
    const parsed = parseSecret("rst_key", presented);
    if (!parsed) throw new UnauthenticatedError("invalid or revoked API key");
    const stored = await this.apiKeyCache.get(parsed.lookup, () => this.store.read.apiKeys.findByLookup(parsed.lookup));
    if (!stored || stored.record.revokedAt || !secretMatches(parsed.secret, stored.secretHash)) {
      throw new UnauthenticatedError("invalid or revoked API key");
    }
    await this.touchIfStale(stored.record, (id, at) => this.store.read.apiKeys.touch(id, at));
    return stored.record;
  }

  /**
   * Creates the first admin key when no global one is active (keys limited to directories
   * cannot create directories or keys); undefined when one already exists.
   */
  async bootstrapAdminKey(): Promise<{ key: ApiKey; secret: string } | undefined> {
    if ((await this.store.read.apiKeys.countActiveGlobal("admin")) > 0) return undefined;
    return this.createApiKey("bootstrap", "admin");
  }

  private async touchIfStale(
    record: { id: string; lastUsedAt: Date | null },
    touch: (id: string, at: Date) => Promise<void>,
  ): Promise<void> {
    const now = Date.now();
    const last = this.touchedAt.get(record.id) ?? record.lastUsedAt?.getTime() ?? 0;
    if (now - last <= TOUCH_INTERVAL_MS) return;
    this.touchedAt.set(record.id, now);
    if (this.touchedAt.size > 10_000) this.touchedAt.delete(this.touchedAt.keys().next().value!);
    await touch(record.id, new Date(now));
  }

}
