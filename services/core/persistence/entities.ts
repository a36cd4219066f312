// MikroORM entities: the tables the directory core keeps. The schema itself is created by
// the hand-written migrations in ./migrations (partial unique indexes, xid8 columns and
// expression indexes are clearer in SQL than in entity options).
import { defineEntity, p } from "@mikro-orm/core";

export const DirectoryEntity = defineEntity({
  name: "Directory",
  tableName: "directories",
  properties: {
    id: p.uuid().primary(),
    name: p.text(),
    provider: p.text(),
    state: p.text(),
    strict: p.boolean(),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
  },
});

export const ScimTokenEntity = defineEntity({
  name: "ScimToken",
  tableName: "scim_tokens",
  properties: {
    id: p.uuid().primary(),
    directoryId: p.uuid(),
    name: p.text(),
    // The public half of the presented secret, used to find the row.
    lookup: p.text(),
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
    directoryIds: p.array().columnType("uuid[]"),
    lookup: p.text(),
    secretHash: p.blob(),
    secretPrefix: p.text(),
    createdAt: p.datetime(),
    lastUsedAt: p.datetime().nullable(),
    revokedAt: p.datetime().nullable(),
  },
});

export const UserEntity = defineEntity({
  name: "User",
  tableName: "users",
  properties: {
    id: p.uuid().primary(),
    directoryId: p.uuid(),
    userName: p.text(),
    externalId: p.text().nullable(),
    active: p.boolean(),
    state: p.text(),
    displayName: p.text().nullable(),
    resource: p.json<Record<string, unknown>>(),
    version: p.bigint("number"),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
    deletedAt: p.datetime().nullable(),
  },
});

export const GroupEntity = defineEntity({
  name: "Group",
  tableName: "groups",
  properties: {
    id: p.uuid().primary(),
    directoryId: p.uuid(),
    displayName: p.text(),
    externalId: p.text().nullable(),
    resource: p.json<Record<string, unknown>>(),
    memberCount: p.bigint("number"),
    version: p.bigint("number"),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
    deletedAt: p.datetime().nullable(),
  },
});

export const MembershipEntity = defineEntity({
  name: "Membership",
  tableName: "memberships",
  properties: {
    groupId: p.uuid().primary(),
    userId: p.uuid().primary(),
    directoryId: p.uuid(),
    createdAt: p.datetime(),
  },
});

// The outbox, append-only: rows are appended in the writer's transaction; the relay gives
// each its position in event_positions (services/event-log); EventService serves them; the
// replay-window cleanup deletes them.
export const OutboxEventEntity = defineEntity({
  name: "OutboxEvent",
  tableName: "outbox_events",
  properties: {
    seq: p.bigint("number").primary().autoincrement(),
    id: p.uuid(),
    directoryId: p.uuid(),
    subjectType: p.text(),
    subjectId: p.uuid(),
    sequence: p.bigint("number"),
    type: p.text(),
    payload: p.json<Record<string, unknown>>(),
    occurredAt: p.datetime(),
    // pg_current_xact_id() of the writing transaction (xid8), read by the relay to stay
    // below the visibility horizon. Filled by the column default, never by the ORM.
    txid: p.text().persist(false),
  },
});

export const allEntities = [
  DirectoryEntity,
  ScimTokenEntity,
  ApiKeyEntity,
  UserEntity,
  GroupEntity,
  MembershipEntity,
  OutboxEventEntity,
];
