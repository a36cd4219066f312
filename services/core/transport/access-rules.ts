// The access rule of every RPC, in one table per service (see ./authorize.ts for what each
// kind means). A new RPC does not compile until it has a rule here.
import { DirectoryService } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { EventService } from "@roster/sdk/gen/roster/events/v1/events_pb.js";
import { ConsumerService } from "@roster/sdk/gen/roster/consumers/v1/consumers_pb.js";
import { MappingService } from "@roster/sdk/gen/roster/mapping/v1/mapping_pb.js";
import type { Access, AccessRules } from "./authorize.ts";

/** Reads a directory's data. */
function reads<I extends { directoryId: string }>(): Access<I> {
  return { kind: "directory", field: "directory_id", of: (req) => req.directoryId, writes: false };
}

/** Changes a directory's users, groups, memberships or mapping: refused while it is suspended. */
function writes<I extends { directoryId: string }>(): Access<I> {
  return { kind: "directory", field: "directory_id", of: (req) => req.directoryId, writes: true };
}

const GLOBAL = { kind: "global" } as const;

export const DIRECTORY_ACCESS: AccessRules<typeof DirectoryService> = {
  // A directory's own record, its state included, is the operators': a tenant's key cannot
  // lift a suspension.
  createDirectory: GLOBAL,
  getDirectory: { kind: "directory", field: "id", of: (req) => req.id, writes: false },
  listDirectories: { kind: "narrowed" },
  updateDirectory: GLOBAL,

  // Token management stays open while a directory is suspended, so a leaked token can be
  // rotated before the directory is reactivated (the tokens work only once it is).
  createScimToken: reads(),
  listScimTokens: reads(),
  revokeScimToken: reads(),
  // The SCIM facade's own calls: they name any directory.
  authenticateScimToken: GLOBAL,
  appendScimAuditRecords: GLOBAL,

  // Keys span tenants; a limited key can neither list keys nor mint one (global or not).
  createApiKey: GLOBAL,
  listApiKeys: GLOBAL,
  revokeApiKey: GLOBAL,

  createUser: writes(),
  getUser: reads(),
  listUsers: reads(),
  replaceUser: writes(),
  patchUser: writes(),
  deactivateUser: writes(),
  reactivateUser: writes(),
  deleteUser: writes(),

  createGroup: writes(),
  getGroup: reads(),
  listGroups: reads(),
  updateGroup: writes(),
  patchGroup: writes(),
  deleteGroup: writes(),

  addGroupMembers: writes(),
  removeGroupMembers: writes(),
  replaceGroupMembers: writes(),
  listGroupMembers: reads(),
  listUserGroups: reads(),

  listScimAuditRecords: reads(),

  // The brake is the directory's own safeguard: its admins (a key limited to it included)
  // set the policy and decide on a hold. A suspended directory takes no SCIM writes, so
  // there is nothing to brake or release until it is reactivated.
  getDeprovisioningBrake: reads(),
  setDeprovisioningPolicy: writes(),
  decideDeprovisioningHold: writes(),
};

export const MAPPING_ACCESS: AccessRules<typeof MappingService> = {
  // The built-in presets hold no directory data.
  listPresets: { kind: "public" },
  getMapping: reads(),
  // Starts a remap that writes every user's roles.
  updateMapping: writes(),
  previewMapping: reads(),
  getCanonicalUser: reads(),
  getRemapJob: reads(),
};

export const EVENT_ACCESS: AccessRules<typeof EventService> = {
  listEvents: reads(),
  streamEvents: reads(),
  listSubjectEvents: reads(),
  snapshotDirectory: reads(),
};

/**
 * A directory's consumers are its own: its keys (limited to it or not) manage them. Global
 * consumers (directory_id empty) span tenants: global keys only. Nothing here changes a
 * directory's data, so a suspended directory's consumers still report and are measured.
 */
function consumerScope<I extends { directoryId: string }>(): Access<I> {
  return { kind: "directoryOrGlobal", field: "directory_id", of: (req) => req.directoryId, writes: false };
}

export const CONSUMER_ACCESS: AccessRules<typeof ConsumerService> = {
  registerConsumer: consumerScope(),
  getConsumer: consumerScope(),
  listConsumers: consumerScope(),
  deleteConsumer: consumerScope(),
  acknowledgeEvents: consumerScope(),
  listUnrevokedUsers: consumerScope(),
};
