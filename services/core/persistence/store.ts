// The Store the use cases run on, over MikroORM. Directories, tokens and keys go through the
// entity manager's native find/insert/update (no unit of work to flush); users, groups and the
// rest through SQL on the same entity manager's Kysely (../../platform/sql.ts). Rows become
// plain domain objects at this edge.
import { DeadlockException, IsolationLevel, LockMode } from "@mikro-orm/core";
import type { EntityManager } from "@mikro-orm/postgresql";
import type { ApiKey, ApiKeyScope, Directory, DirectoryState, ProviderKind, ScimToken } from "../domain/directory.ts";
import type { Repositories, Store } from "../application/store.ts";
import type { Orm } from "./database.ts";
import { ApiKeyEntity, DirectoryEntity, ScimTokenEntity } from "./entities.ts";
import { groupRepository, membershipRepository, outboxRepository, userRepository, type EncodeEvent } from "./resource-repositories.ts";
import { sqlFor, type Sql } from "../../platform/sql.ts";
import { auditRepository } from "./audit-repository.ts";
import { brakeRepository } from "./brake-repository.ts";

type Row<T> = T extends { "~entity": infer E } ? E : never;

function toDirectory(row: Row<typeof DirectoryEntity>): Directory {
  return {
    id: row.id,
    name: row.name,
    provider: row.provider as ProviderKind,
    state: row.state as DirectoryState,
    strict: row.strict,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

function toScimToken(row: Row<typeof ScimTokenEntity>): ScimToken {
  return {
    id: row.id,
    directoryId: row.directoryId,
    name: row.name,
    secretPrefix: row.secretPrefix,
    createdAt: row.createdAt,
    lastUsedAt: row.lastUsedAt ?? null,
    revokedAt: row.revokedAt ?? null,
  };
}

function toApiKey(row: Row<typeof ApiKeyEntity>): ApiKey {
  return {
    id: row.id,
    name: row.name,
    scope: row.scope as ApiKeyScope,
    directoryIds: row.directoryIds,
    secretPrefix: row.secretPrefix,
    createdAt: row.createdAt,
    lastUsedAt: row.lastUsedAt ?? null,
    revokedAt: row.revokedAt ?? null,
  };
}

function coreRepositories(em: EntityManager, sql: Sql, encode: EncodeEvent) {
  return {
    users: userRepository(sql, encode),
    groups: groupRepository(sql),
    memberships: membershipRepository(sql),
    outbox: outboxRepository(sql, encode),
    audit: auditRepository(sql),
    brakes: brakeRepository(sql),
    directories: {
      async insert(d) {
        await em.insert(DirectoryEntity, { ...d });
      },
      async get(id) {
        const row = await em.findOne(DirectoryEntity, { id }, { disableIdentityMap: true });
        return row ? toDirectory(row) : undefined;
      },
      async getForUpdate(id) {
        const row = await em.findOne(DirectoryEntity, { id }, { lockMode: LockMode.PESSIMISTIC_WRITE, disableIdentityMap: true });
        return row ? toDirectory(row) : undefined;
      },
      async update(d) {
        await em.nativeUpdate(DirectoryEntity, { id: d.id }, { name: d.name, state: d.state, strict: d.strict, updatedAt: d.updatedAt });
      },
      async list(pageSize, afterId, onlyIds) {
        const id = { ...(afterId ? { $gt: afterId } : {}), ...(onlyIds ? { $in: [...onlyIds] } : {}) };
        const rows = await em.find(DirectoryEntity, afterId || onlyIds ? { id } : {}, {
          orderBy: { id: "asc" },
          limit: pageSize,
          disableIdentityMap: true,
        });
        return rows.map(toDirectory);
      },
    },
    scimTokens: {
      async insert(token, lookup, secretHash) {
        await em.insert(ScimTokenEntity, { ...token, lookup, secretHash: Buffer.from(secretHash) });
      },
      async get(directoryId, id) {
        const row = await em.findOne(ScimTokenEntity, { id, directoryId }, { disableIdentityMap: true });
        return row ? toScimToken(row) : undefined;
      },
      async findByLookup(lookup) {
        const row = await em.findOne(ScimTokenEntity, { lookup }, { disableIdentityMap: true });
        return row ? { record: toScimToken(row), secretHash: row.secretHash } : undefined;
      },
      async listForDirectory(directoryId) {
        const rows = await em.find(ScimTokenEntity, { directoryId }, { orderBy: { id: "asc" }, disableIdentityMap: true });
        return rows.map(toScimToken);
      },
      async revoke(id, at) {
        await em.nativeUpdate(ScimTokenEntity, { id }, { revokedAt: at });
      },
      async touch(id, at) {
        await em.nativeUpdate(ScimTokenEntity, { id }, { lastUsedAt: at });
      },
    },
    apiKeys: {
      async insert(key, lookup, secretHash) {
        await em.insert(ApiKeyEntity, { ...key, directoryIds: [...key.directoryIds], lookup, secretHash: Buffer.from(secretHash) });
      },
      async get(id) {
        const row = await em.findOne(ApiKeyEntity, { id }, { disableIdentityMap: true });
        return row ? toApiKey(row) : undefined;
      },
      async findByLookup(lookup) {
        const row = await em.findOne(ApiKeyEntity, { lookup }, { disableIdentityMap: true });
        return row ? { record: toApiKey(row), secretHash: row.secretHash } : undefined;
      },
      async list() {
        const rows = await em.find(ApiKeyEntity, {}, { orderBy: { id: "asc" }, disableIdentityMap: true });
        return rows.map(toApiKey);
      },
      async countActiveGlobal(scope) {
        // A handful of rows: counted here rather than with array operators in the query.
        const rows = await em.find(ApiKeyEntity, { scope, revokedAt: null }, { fields: ["directoryIds"], disableIdentityMap: true });
        return rows.filter((row) => row.directoryIds.length === 0).length;
      },
      async revoke(id, at) {
        await em.nativeUpdate(ApiKeyEntity, { id }, { revokedAt: at });
      },
      async touch(id, at) {
        await em.nativeUpdate(ApiKeyEntity, { id }, { lastUsedAt: at });
      },
    },
  } satisfies Partial<Repositories>;
}

/** The repositories modules built on the core add to Repositories, made on the Store's SQL. */
type ModuleRepositories = (sql: Sql) => Omit<Repositories, keyof ReturnType<typeof coreRepositories>>;

const DEADLOCK_ATTEMPTS = 4;

/** Postgres chose this transaction to break a deadlock (SQLSTATE 40P01); nothing of it was kept. */
function isDeadlock(error: unknown): boolean {
  if (error instanceof DeadlockException) return true;
  return error !== null && typeof error === "object" && (error as { code?: unknown }).code === "40P01";
}

export class OrmStore implements Store {
  private readonly orm: Orm;
  private readonly modules: ModuleRepositories;
  private readonly encode: EncodeEvent;
  private readRepositories: Repositories | undefined;

  /** `encode`: new events as the published contract the outbox stores (see EncodeEvent). */
  constructor(orm: Orm, modules: ModuleRepositories, encode: EncodeEvent) {
    this.orm = orm;
    this.modules = modules;
    this.encode = encode;
  }

  private repositories(em: EntityManager): Repositories {
    const sql = sqlFor(em);
    return { ...coreRepositories(em, sql, this.encode), ...this.modules(sql) };
  }

  async transact<T>(fn: (repos: Repositories) => Promise<T>): Promise<T> {
    // Use cases lock in a fixed order (group before users, users in id order), but deleting a
    // user must find its groups through the user: when Postgres breaks a deadlock, the rolled-
    // back transaction is run again from the start, a few times, instead of answering 500.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.orm.em.fork().transactional((em) => fn(this.repositories(em)));
      } catch (error) {
        if (attempt >= DEADLOCK_ATTEMPTS || !isDeadlock(error)) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * attempt));
      }
    }
  }

  snapshot<T>(fn: (repos: Repositories) => Promise<T>): Promise<T> {
    return this.orm.em.fork().transactional((em) => fn(this.repositories(em)), { isolationLevel: IsolationLevel.REPEATABLE_READ, readOnly: true });
  }

  get read(): Repositories {
    // One fork for every statement outside a transaction: its finds bypass the identity
    // map, its writes are native and its SQL runs on the pool, so it holds no per-request
    // state worth isolating.
    this.readRepositories ??= this.repositories(this.orm.em.fork());
    return this.readRepositories;
  }

  async ping(): Promise<void> {
    await sqlFor(this.orm.em.fork())("SELECT 1");
  }
}
