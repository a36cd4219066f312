// Domain objects to and from the generated protobuf messages. Nothing else in the core
// touches generated types. Types every service's API shares convert in ../../shared/convert.ts.
import { create, toJson } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate, ValueSchema } from "@bufbuild/protobuf/wkt";
import { optionalTime, providerToPb } from "../../shared/convert.ts";
import type { JsonObject } from "@bufbuild/protobuf";
import {
  ApiKeyScope as PbApiKeyScope,
  ApiKeySchema,
  DirectorySchema,
  DirectoryState as PbDirectoryState,
  ScimTokenSchema,
  GroupSchema,
  MemberSchema,
  SortOrder as PbSortOrder,
  UserSchema,
  UserState as PbUserState,
  ScimAuditRecordSchema,
  type ScimAuditRecord as PbScimAuditRecord,
  type Group as PbGroup,
  type ListOptions as PbListOptions,
  type Member as PbMember,
  type User as PbUser,
  type ApiKey as PbApiKey,
  type Directory as PbDirectory,
  type ScimToken as PbScimToken,
  type PatchOperation as PbPatchOperation,
} from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import type { ApiKey, ApiKeyScope, Directory, DirectoryState, ScimToken } from "../domain/directory.ts";
import { InvalidInputError } from "../domain/errors.ts";
import type { GroupRecord, UserRecord, UserState } from "../domain/resources.ts";
import type { PatchOperation } from "../application/resource-context.ts";
import type { ListOptions } from "../application/list-query.ts";
import type { MemberRow } from "../application/store.ts";
import type { AuditRecord } from "../domain/audit.ts";

export function directoryStateFromPb(value: PbDirectoryState): DirectoryState {
  if (value === PbDirectoryState.ACTIVE) return "active";
  if (value === PbDirectoryState.SUSPENDED) return "suspended";
  throw new InvalidInputError("invalidValue", "state must be ACTIVE or SUSPENDED");
}

export function scopeFromPb(value: PbApiKeyScope): ApiKeyScope {
  if (value === PbApiKeyScope.ADMIN) return "admin";
  if (value === PbApiKeyScope.READ) return "read";
  throw new InvalidInputError("invalidValue", "scope must be ADMIN or READ");
}

export function directoryToPb(d: Directory): PbDirectory {
  return create(DirectorySchema, {
    id: d.id,
    name: d.name,
    provider: providerToPb(d.provider),
    state: d.state === "active" ? PbDirectoryState.ACTIVE : PbDirectoryState.SUSPENDED,
    strict: d.strict,
    createTime: timestampFromDate(d.createdAt),
    updateTime: timestampFromDate(d.updatedAt),
  });
}

export function scimTokenToPb(t: ScimToken): PbScimToken {
  return create(ScimTokenSchema, {
    id: t.id,
    directoryId: t.directoryId,
    name: t.name,
    secretPrefix: t.secretPrefix,
    createTime: timestampFromDate(t.createdAt),
    lastUsedTime: optionalTime(t.lastUsedAt),
    revokeTime: optionalTime(t.revokedAt),
  });
}

export function apiKeyToPb(k: ApiKey): PbApiKey {
  return create(ApiKeySchema, {
    id: k.id,
    name: k.name,
    scope: k.scope === "admin" ? PbApiKeyScope.ADMIN : PbApiKeyScope.READ,
    directoryIds: [...k.directoryIds],
    secretPrefix: k.secretPrefix,
    createTime: timestampFromDate(k.createdAt),
    lastUsedTime: optionalTime(k.lastUsedAt),
    revokeTime: optionalTime(k.revokedAt),
  });
}

// ---- users and groups

const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

function str(value: unknown): string {
  return typeof value === "string" ? value : "";
}

function obj(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** The resource's emails, primary first. */
function emailsOf(resource: Record<string, unknown>): Array<{ value: string; type: string; primary: boolean }> {
  const list = Array.isArray(resource.emails) ? resource.emails : [];
  const emails = list.map((e) => ({ value: str(obj(e).value), type: str(obj(e).type), primary: obj(e).primary === true })).filter((e) => e.value !== "");
  return [...emails.filter((e) => e.primary), ...emails.filter((e) => !e.primary)];
}

const USER_STATES: Record<UserState, PbUserState> = {
  active: PbUserState.ACTIVE,
  inactive: PbUserState.INACTIVE,
  deleted: PbUserState.DELETED,
};

export function userToPb(user: UserRecord, groups: readonly GroupRecord[] = []): PbUser {
  const r = user.resource;
  const name = obj(r.name);
  const enterprise = obj(r[ENTERPRISE]);
  return create(UserSchema, {
    id: user.id,
    directoryId: user.directoryId,
    externalId: user.externalId ?? "",
    userName: user.userName,
    state: USER_STATES[user.state],
    displayName: user.displayName ?? "",
    givenName: str(name.givenName),
    familyName: str(name.familyName),
    emails: emailsOf(r),
    title: str(r.title),
    department: str(enterprise.department),
    employeeNumber: str(enterprise.employeeNumber),
    managerId: str(obj(enterprise.manager).value),
    resource: r as JsonObject,
    version: BigInt(user.version),
    createTime: timestampFromDate(user.createdAt),
    updateTime: timestampFromDate(user.updatedAt),
    deleteTime: optionalTime(user.deletedAt),
    groups: groups.map((g) => ({ id: g.id, displayName: g.displayName })),
  });
}

export function groupToPb(group: GroupRecord): PbGroup {
  return create(GroupSchema, {
    id: group.id,
    directoryId: group.directoryId,
    externalId: group.externalId ?? "",
    displayName: group.displayName,
    memberCount: BigInt(group.memberCount),
    resource: group.resource as JsonObject,
    version: BigInt(group.version),
    createTime: timestampFromDate(group.createdAt),
    updateTime: timestampFromDate(group.updatedAt),
    deleteTime: optionalTime(group.deletedAt),
  });
}

export function patchOperationFromPb(op: PbPatchOperation): PatchOperation {
  return { op: op.op, path: op.path, value: op.value === undefined ? undefined : toJson(ValueSchema, op.value) };
}

export function listOptionsFromPb(options: PbListOptions | undefined): ListOptions {
  return {
    filter: options?.filter ?? "",
    pageSize: options?.pageSize ?? 0,
    pageToken: options?.pageToken ?? "",
    startIndex: options?.startIndex ?? 0,
    sortBy: options?.sortBy ?? "",
    descending: options?.sortOrder === PbSortOrder.DESCENDING,
  };
}

export function memberToPb(m: MemberRow): PbMember {
  return create(MemberSchema, { userId: m.userId, displayName: m.displayName ?? m.userName, addTime: timestampFromDate(m.addedAt) });
}

// ---- audit

export function auditRecordToPb(r: AuditRecord): PbScimAuditRecord {
  const body = (v: unknown) => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as JsonObject) : undefined);
  return create(ScimAuditRecordSchema, {
    id: r.id,
    directoryId: r.directoryId ?? "",
    requestId: r.requestId,
    method: r.method,
    path: r.path,
    status: r.status,
    scimType: r.scimType,
    latencyMs: r.latencyMs,
    time: timestampFromDate(r.at),
    requestBody: body(r.requestBody),
    responseBody: body(r.responseBody),
  });
}

export function auditRecordFromPb(r: PbScimAuditRecord): AuditRecord {
  return {
    id: r.id,
    directoryId: r.directoryId === "" ? null : r.directoryId,
    requestId: r.requestId,
    method: r.method,
    path: r.path,
    status: r.status,
    scimType: r.scimType,
    latencyMs: r.latencyMs,
    at: r.time ? timestampDate(r.time) : new Date(),
    requestBody: r.requestBody,
    responseBody: r.responseBody,
  };
}
