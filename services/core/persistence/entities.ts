// MikroORM entities: the tables the store reads and writes through the entity manager
// (directories, SCIM tokens, API keys). Users, groups, memberships, the outbox and the
// mapping, audit and brake tables are reached with SQL (../../platform/sql.ts): row locks in
// a fixed order, jsonb filters and set-based writes, which the entity API cannot say. The
// schema of every table is created by the hand-written migrations in ./migrations (partial
// unique indexes, xid8 columns and expression indexes are clearer in SQL than in entity
// options); entities.test.ts checks these entities agree with it, constraints included.
import { defineEntity, p } from "@mikro-orm/core";

export const DirectoryEntity = defineEntity({
  name: "Directory",
  tableName: "directories",
  properties: {
    id: p.uuid().primary(),
    name: p.text(),
    provider: p.text(),
    state: p.text(),
    strict: p.boolean().default(false),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
  },
});

export const ScimTokenEntity = defineEntity({
  name: "ScimToken",
  tableName: "scim_tokens",
  indexes: [{ name: "scim_tokens_directory", properties: ["directoryId"] }],
  properties: {
    id: p.uuid().primary(),
    // The directory's id itself (mapToPk), never a loaded Directory.
    directoryId: () => p.manyToOne(DirectoryEntity).mapToPk().fieldName("directory_id").foreignKeyName("scim_tokens_directory_id_fkey").updateRule("no action").deleteRule("no action"),
    name: p.text(),
    // The public half of the presented secret, used to find the row.
    lookup: p.text().unique("scim_tokens_lookup_key"),
    // SHA-256 of the secret half; the secret itself is never stored.
    secretHash: p.blob(),
    secretPrefix: p.text(),
    createdAt: p.datetime(),
    lastUsedAt: p.datetime().nullable(),
    revokedAt: p.datetime().nullable(),
  },
});

export const ApiKeyEntity = defineEntity({
  name: "ApiKey",
  tableName: "api_keys",
  properties: {
    id: p.uuid().primary(),
    name: p.text(),
    scope: p.text(),
    // Empty for a global key.
    directoryIds: p.array().columnType("uuid[]").defaultRaw("'{}'"),
    lookup: p.text().unique("api_keys_lookup_key"),
    secretHash: p.blob(),
    secretPrefix: p.text(),
    createdAt: p.datetime(),
    lastUsedAt: p.datetime().nullable(),
    revokedAt: p.datetime().nullable(),
  },
});

export const allEntities = [DirectoryEntity, ScimTokenEntity, ApiKeyEntity];
