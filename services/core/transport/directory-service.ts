// DirectoryService over Connect: converts messages and calls the use cases (one function
// each, under ../application), nothing more.
import type { ServiceImpl } from "@connectrpc/connect";
import { DirectoryService } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import type { DirectoryUseCases } from "../application/directories.ts";
import type { ResourceContext } from "../application/resource-context.ts";
import { createUser } from "../application/users/create.ts";
import { deleteUser } from "../application/users/delete.ts";
import { patchUser } from "../application/users/patch.ts";
import { getUser, listUserGroups, listUsers } from "../application/users/read.ts";
import { replaceUser } from "../application/users/replace.ts";
import { setUserActive } from "../application/users/set-active.ts";
import { createGroup } from "../application/groups/create.ts";
import { deleteGroup } from "../application/groups/delete.ts";
import { patchGroup } from "../application/groups/patch.ts";
import { getGroup, listGroups, listMembers } from "../application/groups/read.ts";
import { updateGroup } from "../application/groups/update.ts";
import type { AuditUseCases } from "../application/audit.ts";
import type { Logger } from "../../platform/logger.ts";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import {
  apiKeyToPb,
  auditRecordFromPb,
  auditRecordToPb,
  directoryStateFromPb,
  directoryToPb,
  groupToPb,
  listOptionsFromPb,
  memberToPb,
  patchOperationFromPb,
  userToPb,
  scimTokenToPb,
  scopeFromPb,
} from "./convert.ts";
import { expectedVersionFromPb, providerFromPb } from "../../shared/convert.ts";
import { reachableDirectories } from "./authorize.ts";

export function directoryServiceImpl(directories: DirectoryUseCases): Partial<ServiceImpl<typeof DirectoryService>> {
  return {
    async createDirectory(req) {
      const directory = await directories.createDirectory({
        name: req.name,
        provider: providerFromPb(req.provider),
        strict: req.strict,
      });
      return { directory: directoryToPb(directory) };
    },
    async getDirectory(req) {
      return { directory: directoryToPb(await directories.getDirectory(req.id)) };
    },
    async listDirectories(req, ctx) {
      // A key limited to directories lists only those.
      const page = await directories.listDirectories(req.pageSize, req.pageToken, reachableDirectories(ctx));
      return { directories: page.items.map(directoryToPb), nextPageToken: page.nextPageToken };
    },
    async updateDirectory(req) {
      const directory = await directories.updateDirectory({
        id: req.id,
        name: req.name,
        state: req.state === undefined ? undefined : directoryStateFromPb(req.state),
        strict: req.strict,
      });
      return { directory: directoryToPb(directory) };
    },
    async createScimToken(req) {
      const { token, secret } = await directories.createScimToken(req.directoryId, req.name);
      return { token: scimTokenToPb(token), secret };
    },
    async listScimTokens(req) {
      return { tokens: (await directories.listScimTokens(req.directoryId)).map(scimTokenToPb) };
    },
    async revokeScimToken(req) {
      return { token: scimTokenToPb(await directories.revokeScimToken(req.directoryId, req.id)) };
    },
    async authenticateScimToken(req) {
      const { directory, tokenId } = await directories.authenticateScimToken(req.secret);
      return { directory: directoryToPb(directory), tokenId };
    },
    async createApiKey(req) {
      const { key, secret } = await directories.createApiKey(req.name, scopeFromPb(req.scope), req.directoryIds);
      return { key: apiKeyToPb(key), secret };
    },
    async listApiKeys() {
      return { keys: (await directories.listApiKeys()).map(apiKeyToPb) };
    },
    async revokeApiKey(req) {
      return { key: apiKeyToPb(await directories.revokeApiKey(req.id)) };
    },
  };
}

export function resourceServiceImpl(resources: ResourceContext): Partial<ServiceImpl<typeof DirectoryService>> {
  return {
    async createUser(req) {
      return { user: userToPb(await createUser(resources, req.directoryId, req.resource ?? {})) };
    },
    async getUser(req) {
      const { user, groups } = await getUser(resources, req.directoryId, req.id);
      return { user: userToPb(user, groups) };
    },
    async listUsers(req) {
      const page = await listUsers(resources, req.directoryId, listOptionsFromPb(req.options), req.includeDeleted);
      return { users: page.items.map(({ user, groups }) => userToPb(user, groups)), nextPageToken: page.nextPageToken, totalSize: page.total };
    },
    async replaceUser(req) {
      return { user: userToPb(await replaceUser(resources, req.directoryId, req.id, req.resource ?? {}, expectedVersionFromPb(req.expectedVersion))) };
    },
    async patchUser(req) {
      const { user, groups } = await patchUser(resources, req.directoryId, req.id, req.operations.map(patchOperationFromPb), expectedVersionFromPb(req.expectedVersion));
      return { user: userToPb(user, groups) };
    },
    async deactivateUser(req) {
      return { user: userToPb(await setUserActive(resources, req.directoryId, req.id, false, expectedVersionFromPb(req.expectedVersion))) };
    },
    async reactivateUser(req) {
      return { user: userToPb(await setUserActive(resources, req.directoryId, req.id, true, expectedVersionFromPb(req.expectedVersion))) };
    },
    async deleteUser(req) {
      return { user: userToPb(await deleteUser(resources, req.directoryId, req.id, expectedVersionFromPb(req.expectedVersion))) };
    },
    async createGroup(req) {
      return { group: groupToPb(await createGroup(resources, req.directoryId, req.resource ?? {}, req.memberUserIds)) };
    },
    async getGroup(req) {
      return { group: groupToPb(await getGroup(resources, req.directoryId, req.id)) };
    },
    async listGroups(req) {
      const page = await listGroups(resources, req.directoryId, listOptionsFromPb(req.options));
      return { groups: page.items.map(groupToPb), nextPageToken: page.nextPageToken, totalSize: page.total };
    },
    async updateGroup(req) {
      const group = await updateGroup(resources, req.directoryId, req.id, {
        resource: req.resource,
        members: { replaceAll: req.replaceMembers ? req.replaceMemberUserIds : undefined, add: req.addMemberUserIds, remove: req.removeMemberUserIds },
        expectedVersion: expectedVersionFromPb(req.expectedVersion),
      });
      return { group: groupToPb(group) };
    },
    async patchGroup(req) {
      return { group: groupToPb(await patchGroup(resources, req.directoryId, req.id, req.operations.map(patchOperationFromPb), expectedVersionFromPb(req.expectedVersion))) };
    },
    async deleteGroup(req) {
      return { group: groupToPb(await deleteGroup(resources, req.directoryId, req.id, expectedVersionFromPb(req.expectedVersion))) };
    },
    async addGroupMembers(req) {
      return { group: groupToPb(await updateGroup(resources, req.directoryId, req.groupId, { members: { add: req.userIds, remove: [] } })) };
    },
    async removeGroupMembers(req) {
      return { group: groupToPb(await updateGroup(resources, req.directoryId, req.groupId, { members: { add: [], remove: req.userIds } })) };
    },
    async replaceGroupMembers(req) {
      return { group: groupToPb(await updateGroup(resources, req.directoryId, req.groupId, { members: { replaceAll: req.userIds, add: [], remove: [] } })) };
    },
    async listGroupMembers(req) {
      const page = await listMembers(resources, req.directoryId, req.groupId, req.pageSize, req.pageToken);
      return { members: page.members.map(memberToPb), nextPageToken: page.nextPageToken, totalSize: BigInt(page.total) };
    },
    async listUserGroups(req) {
      return { groups: (await listUserGroups(resources, req.directoryId, req.userId)).map(groupToPb), nextPageToken: "" };
    },
  };
}

export function auditServiceImpl(audit: AuditUseCases, logger: Logger): Partial<ServiceImpl<typeof DirectoryService>> {
  return {
    async appendScimAuditRecords(req) {
      const { dropped } = await audit.append(req.records.map(auditRecordFromPb));
      // Counted, never shown: the content is what the database refused.
      if (dropped > 0) logger.error({ dropped }, "SCIM audit records refused by the database were dropped");
      return {};
    },
    async listScimAuditRecords(req) {
      const page = await audit.list({
        directoryId: req.directoryId,
        pageSize: req.pageSize,
        pageToken: req.pageToken,
        since: req.startTime ? timestampDate(req.startTime) : undefined,
        status: req.status,
      });
      return { records: page.records.map(auditRecordToPb), nextPageToken: page.nextPageToken };
    },
  };
}
