// Domain objects to and from the generated protobuf messages. Nothing else in the core
// touches generated types.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import {
  ApiKeyScope as PbApiKeyScope,
  ApiKeySchema,
  DirectorySchema,
  DirectoryState as PbDirectoryState,
  ProviderKind as PbProviderKind,
  ScimTokenSchema,
  type ApiKey as PbApiKey,
  type Directory as PbDirectory,
  type ScimToken as PbScimToken,
} from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import type { ApiKey, ApiKeyScope, Directory, DirectoryState, ProviderKind, ScimToken } from "../domain/directory.ts";
import { InvalidInputError } from "../domain/errors.ts";

const PROVIDERS: ReadonlyArray<[ProviderKind, PbProviderKind]> = [
  ["okta", PbProviderKind.OKTA],
  ["entra", PbProviderKind.ENTRA],
  ["google", PbProviderKind.GOOGLE],
  ["onelogin", PbProviderKind.ONELOGIN],
  ["jumpcloud", PbProviderKind.JUMPCLOUD],
  ["generic", PbProviderKind.GENERIC],
];

export function providerFromPb(value: PbProviderKind): ProviderKind {
  const found = PROVIDERS.find(([, pb]) => pb === value);
  if (!found) throw new InvalidInputError("invalidValue", "provider must be set (okta, entra, google, onelogin, jumpcloud or generic)");
  return found[0];
}

export function providerToPb(value: ProviderKind): PbProviderKind {
  return PROVIDERS.find(([kind]) => kind === value)![1];
}

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

export function optionalTime(value: Date | null | undefined): Timestamp | undefined {
  return value ? timestampFromDate(value) : undefined;
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
    secretPrefix: k.secretPrefix,
    createTime: timestampFromDate(k.createdAt),
    lastUsedTime: optionalTime(k.lastUsedAt),
    revokeTime: optionalTime(k.revokedAt),
  });
}
