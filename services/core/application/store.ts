// What the use cases need from storage. Implemented by ../persistence; the use cases know
// nothing of MikroORM or SQL.
import type { ApiKey, ApiKeyScope, Directory, ScimToken } from "../domain/directory.ts";

export interface Page<T> {
  readonly items: T[];
  readonly nextPageToken: string;
}

export interface StoredSecret<T> {
  readonly record: T;
  readonly secretHash: Uint8Array;
}

export interface DirectoryRepository {
  insert(directory: Directory): Promise<void>;
  get(id: string): Promise<Directory | undefined>;
  /** Locks the row until the transaction ends. */
  getForUpdate(id: string): Promise<Directory | undefined>;
  update(directory: Directory): Promise<void>;
  list(pageSize: number, afterId: string | undefined): Promise<Directory[]>;
}

export interface ScimTokenRepository {
  insert(token: ScimToken, lookup: string, secretHash: Uint8Array): Promise<void>;
  get(directoryId: string, id: string): Promise<ScimToken | undefined>;
  findByLookup(lookup: string): Promise<StoredSecret<ScimToken> | undefined>;
  listForDirectory(directoryId: string): Promise<ScimToken[]>;
  revoke(id: string, at: Date): Promise<void>;
  touch(id: string, at: Date): Promise<void>;
}

export interface ApiKeyRepository {
  insert(key: ApiKey, lookup: string, secretHash: Uint8Array): Promise<void>;
  get(id: string): Promise<ApiKey | undefined>;
  findByLookup(lookup: string): Promise<StoredSecret<ApiKey> | undefined>;
  list(): Promise<ApiKey[]>;
  countActive(scope: ApiKeyScope): Promise<number>;
  revoke(id: string, at: Date): Promise<void>;
  touch(id: string, at: Date): Promise<void>;
}

export interface Repositories {
  readonly directories: DirectoryRepository;
  readonly scimTokens: ScimTokenRepository;
  readonly apiKeys: ApiKeyRepository;
}

export interface Store {
  /** Runs fn in one transaction; every repository it is given works inside it. */
  transact<T>(fn: (repos: Repositories) => Promise<T>): Promise<T>;
  /** Repositories outside any explicit transaction, for reads. */
  readonly read: Repositories;
  ping(): Promise<void>;
}
