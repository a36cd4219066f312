// Use cases for users, groups and memberships. Each write runs in one transaction, locks
// the aggregates it changes (group before users, users in id order), sets their versions,
// and appends one event per fact to the outbox in that same transaction.
import { checkId, isId, type Directory } from "../domain/directory.ts";
import { excerpt, InvalidInputError, NotFoundError, quote } from "../domain/errors.ts";
import { groupEvent, groupRef, memberParts, userEvent, type EventType, type GroupRef, type NewEvent } from "../domain/events.ts";
import { newId } from "../domain/ids.ts";
import { checkPageSize, decodePageToken, encodePageToken } from "../domain/paging.ts";
import {
  changedAttributes,
  checkNotDeleted,
  checkVersion,
  groupFields,
  nestedGroupError,
  refuseIdChange,
  sameJson,
  scimGroup,
  scimUser,
  userFields,
  type GroupFields,
  type GroupRecord,
  type Json,
  type UserFields,
  type UserRecord,
} from "../domain/resources.ts";
import { applyPatch } from "../domain/scim/patch.ts";
import type { JsonObject, JsonValue } from "../../platform/scim/json.ts";
import { PATCH_OP_SCHEMA } from "../../platform/scim/patch-request.ts";
import type { DirectoryUseCases } from "./directories.ts";
import type { AttrRef } from "../../platform/scim/ast.ts";
import { parseAttributeList, parseFilter } from "../../platform/scim/filter.ts";
import type { BrakeGate, BrakeUseCases } from "./brake.ts";
import type { CanonicalInput, CanonicalProjector } from "./canonical.ts";
import type { MemberRow, Repositories, Store } from "./store.ts";

export interface ListOptions {
  readonly filter: string;
  readonly pageSize: number;
  readonly pageToken: string;
  /** 1-based; 0 means unused. */
  readonly startIndex: number;
  readonly sortBy: string;
  readonly descending: boolean;
}

export interface Listed<T> {
  readonly items: T[];
  readonly total: number;
  readonly nextPageToken: string;
  /** 1-based index of the first item (SCIM startIndex). */
  readonly startIndex: number;
}

export interface UserWithGroups {
  readonly user: UserRecord;
  readonly groups: GroupRecord[];
}

export interface MemberChanges {
  /** When set, the member set becomes exactly these (before add and remove). */
  readonly replaceAll?: readonly string[] | undefined;
  readonly add: readonly string[];
  readonly remove: readonly string[];
}

const MAX_FILTER_LENGTH = 4096;
const MAX_MEMBERS_PER_CALL = 100_000;

/** One user's membership change, as a role deriver sees it. */
export interface MembershipDelta {
  readonly userId: string;
  readonly joined: readonly GroupRef[];
  readonly left: readonly GroupRef[];
}

/**
 * Derives what membership changes mean beyond membership (roles, in the mapping module).
 * Runs inside the membership change's transaction with the users locked; returns the extra
 * events and sets the versions it used in `versions`.
 */
export interface MembershipHook {
  rolesChanged(repos: Repositories, directoryId: string, deltas: readonly MembershipDelta[], versions: Map<string, number>, now: Date): Promise<NewEvent[]>;
  /** Whether any group's name or externalId can change a user's roles in the directory now. */
  groupsCanChangeRoles(repos: Repositories, directoryId: string): Promise<boolean>;
}

// Members re-derived per statement when a group's identity changes.
const RENAME_PAGE = 1000;

export class ResourceUseCases {
  private readonly store: Store;
  private readonly membershipHook: MembershipHook | undefined;
  private readonly projector: CanonicalProjector | undefined;
  private readonly brake: BrakeUseCases | undefined;
  private readonly directories: Pick<DirectoryUseCases, "cachedDirectory"> | undefined;
  /**
   * With a projector, every user event's payload carries the user's canonical form; with a
   * brake, deprovisioning writes pass the directory's deprovisioning brake; with directories,
   * a directory's settings are read through their cache.
   */
  constructor(store: Store, membershipHook?: MembershipHook, projector?: CanonicalProjector, brake?: BrakeUseCases, directories?: Pick<DirectoryUseCases, "cachedDirectory">) {
    this.store = store;
    this.membershipHook = membershipHook;
    this.projector = projector;
    this.brake = brake;
    this.directories = directories;
  }

  /**
   * A write that may deprovision (deactivate, delete, remove members): through the brake's
   * transaction when there is one and the write may deprovision, a plain one otherwise.
   */
  private deprovisioning<T>(directoryId: string, mayDeprovision: boolean, fn: (repos: Repositories, gate: BrakeGate | undefined) => Promise<T>): Promise<T> {
    if (!this.brake || !mayDeprovision) return this.store.transact((repos) => fn(repos, undefined));
    return this.brake.transact(directoryId, fn);
  }

  // ---- users

  async createUser(directoryId: string, raw: unknown): Promise<UserRecord> {
    const dirId = checkId("directory_id", directoryId);
    const fields = userFields(raw);
    const now = new Date();
    const fresh: UserRecord = {
      id: newId(),
      directoryId: dirId,
      ...fields,
      state: fields.active ? "active" : "inactive",
      version: 1,
      createdAt: now,
      updatedAt: now,
      deletedAt: null,
    };
    // The common case is one atomic statement, the user with its event (the directory's
    // existence is the foreign key's job): no explicit transaction, one round trip. The
    // canonical user comes from the rules cached in memory; the statement checks they are
    // still the directory's current ones, and writes nothing otherwise.
    const speculation = this.projector?.speculate(dirId, fresh);
    if (!this.projector || speculation) {
      const event = userEvent(fresh, 1, "user.created", speculation?.payload);
      if (await this.store.read.users.insertUnlessTombstoned(fresh, [event], speculation?.mappingVersion)) return fresh;
    }
    // Rules not known or changed, or the IdP is re-provisioning someone it deleted (they keep
    // their id and history).
    return this.store.transact(async (repos) => {
      const tombstone = fields.externalId === null ? undefined : await repos.users.findTombstoneForUpdate(dirId, fields.externalId);
      if (!tombstone) {
        // No tombstone, or revived by a concurrent create in between: a plain create.
        await repos.users.insert(fresh);
        await repos.outbox.append(await this.userEvents(repos, dirId, [{ user: fresh, groups: [], type: "user.created" }]));
        return fresh;
      }
      // A tombstone has no memberships left (deleteUser removed them).
      const user: UserRecord = { ...fresh, id: tombstone.id, version: tombstone.version + 1, createdAt: tombstone.createdAt };
      await repos.users.update(user);
      await repos.outbox.append(await this.userEvents(repos, dirId, [{ user, groups: [], type: "user.created", extra: { relinked: true } }]));
      return user;
    });
  }

  async getUser(directoryId: string, id: string): Promise<UserWithGroups> {
    const dirId = checkId("directory_id", directoryId);
    const user = checkNotDeleted(isId(id) ? await this.store.read.users.get(dirId, id.toLowerCase()) : undefined, "user", id);
    const groups = await this.store.read.memberships.groupRefsOf([user.id]);
    return { user, groups: groups.get(user.id) ?? [] };
  }

  async listUsers(directoryId: string, options: ListOptions, includeDeleted = false): Promise<Listed<UserWithGroups>> {
    const dirId = checkId("directory_id", directoryId);
    const directory = await this.directory(this.store.read, dirId);
    const { query, next } = listQuery(options, !directory.strict, includeDeleted);
    // One row beyond the page says whether a next page exists (no token on the last page).
    const result = await this.store.read.users.list(dirId, { ...query, limit: query.limit + 1 });
    const page = result.items.slice(0, query.limit);
    const groups = await this.store.read.memberships.groupRefsOf(page.map((u) => u.id));
    const items = page.map((user) => ({ user, groups: groups.get(user.id) ?? [] }));
    return { items, total: result.total, nextPageToken: next(page, result.items.length > page.length), startIndex: query.offset + 1 };
  }

  async replaceUser(directoryId: string, id: string, raw: unknown, expectedVersion?: number): Promise<UserRecord> {
    const dirId = checkId("directory_id", directoryId);
    refuseIdChange(raw, id);
    const fields = userFields(raw);
    return this.deprovisioning(dirId, !fields.active, async (repos, gate) => {
      const current = checkNotDeleted(isId(id) ? await repos.users.getForUpdate(dirId, id.toLowerCase()) : undefined, "user", id);
      checkVersion(current.version, expectedVersion, "user");
      return this.writeUser(repos, gate, current, fields, undefined);
    });
  }

  /**
   * A SCIM PATCH of a user, in one transaction: the user is locked and read once, the
   * operations applied to it, and the difference written with its events. Concurrent patches
   * queue on the row lock instead of failing; only a stale expectedVersion is refused.
   */
  async patchUser(directoryId: string, id: string, operations: readonly PatchOperation[], expectedVersion?: number): Promise<UserWithGroups> {
    const dirId = checkId("directory_id", directoryId);
    const lenient = !(await this.directoryOf(dirId)).strict;
    // Only a patch that names `active` can deactivate: the others skip the brake's lock.
    return this.deprovisioning(dirId, mentions(operations, "active"), async (repos, gate) => {
      const locked = isId(id) ? await repos.users.getForUpdateWithGroups(dirId, id.toLowerCase()) : undefined;
      const current = checkNotDeleted(locked?.user, "user", id);
      const groups = locked!.groups;
      checkVersion(current.version, expectedVersion, "user");
      const result = applyPatch("User", scimUser(current, groups) as JsonObject, patchBody(operations), { lenient });
      if (!result.changed) return { user: current, groups };
      refuseIdChange(result.resource, current.id);
      return { user: await this.writeUser(repos, gate, current, userFields(result.resource), groups), groups };
    });
  }

  /**
   * Writes a user's new fields (the caller holds its row lock): one event for the attribute
   * changes, one for a change of `active`, nothing when nothing changed. With groups given,
   * the events' canonical forms use them instead of reading them again.
   */
  private async writeUser(repos: Repositories, gate: BrakeGate | undefined, current: UserRecord, fields: UserFields, groups: readonly GroupRef[] | undefined): Promise<UserRecord> {
    if (sameJson(current.resource, fields.resource)) return current;
    const changed = changedAttributes(current.resource, fields.resource);
    const attributesChanged = changed.some((name) => name !== "active");
    const activeChanged = current.active !== fields.active;
    const now = new Date();
    let version = current.version;
    const user: UserRecord = { ...current, ...fields, state: fields.active ? "active" : "inactive", updatedAt: now, version: 0 };
    const facts: UserFact[] = [];
    if (attributesChanged) facts.push({ user: { ...user, version: ++version }, groups, type: "user.updated", extra: { changedAttributes: changed.filter((n) => n !== "active") } });
    if (activeChanged) facts.push({ user: { ...user, version: ++version }, groups, type: fields.active ? "user.reactivated" : "user.deactivated" });
    const saved = { ...user, version };
    const brakeEvents = activeChanged && !fields.active && gate ? await gate.check(repos, { kind: "users", count: 1 }, now) : [];
    // With the groups known, the events' canonical forms come from the rules in memory, and
    // the user and its events are one statement that checks those rules are still current.
    const speculated = groups === undefined ? undefined : this.speculatedEvents(current.directoryId, facts, groups);
    if (speculated && (await repos.users.updateWithEvents(saved, [...speculated.events, ...brakeEvents], speculated.mappingVersion))) return saved;
    await repos.users.update(saved);
    await repos.outbox.append([...(await this.userEvents(repos, current.directoryId, facts)), ...brakeEvents]);
    return saved;
  }

  /** The events of facts about one user with known groups, without a query; undefined when the rules are not in memory. */
  private speculatedEvents(directoryId: string, facts: readonly UserFact[], groups: readonly GroupRef[]): { events: NewEvent[]; mappingVersion: number | undefined } | undefined {
    if (!this.projector) return { events: facts.map((f) => userEvent(f.user, f.user.version, f.type, f.extra)), mappingVersion: undefined };
    const events: NewEvent[] = [];
    let mappingVersion: number | undefined;
    for (const f of facts) {
      const speculation = this.projector.speculate(directoryId, f.user, groups);
      if (!speculation || (mappingVersion !== undefined && speculation.mappingVersion !== mappingVersion)) return undefined;
      mappingVersion = speculation.mappingVersion;
      events.push(userEvent(f.user, f.user.version, f.type, { ...f.extra, ...speculation.payload }));
    }
    return { events, mappingVersion };
  }

  /** Deactivation (active=false) and reactivation; a no-op when already in that state. */
  async setUserActive(directoryId: string, id: string, active: boolean, expectedVersion?: number): Promise<UserRecord> {
    const dirId = checkId("directory_id", directoryId);
    return this.deprovisioning(dirId, !active, async (repos, gate) => {
      const current = checkNotDeleted(isId(id) ? await repos.users.getForUpdate(dirId, id.toLowerCase()) : undefined, "user", id);
      checkVersion(current.version, expectedVersion, "user");
      if (current.active === active) return current;
      const brakeEvents = gate ? await gate.check(repos, { kind: "users", count: 1 }, new Date()) : [];
      const user: UserRecord = {
        ...current,
        active,
        state: active ? "active" : "inactive",
        resource: { ...current.resource, active },
        version: current.version + 1,
        updatedAt: new Date(),
      };
      await repos.users.update(user);
      await repos.outbox.append([...(await this.userEvents(repos, dirId, [{ user, type: active ? "user.reactivated" : "user.deactivated" }])), ...brakeEvents]);
      return user;
    });
  }

  /** Deletes a user: leaves every group (each a fact on both sides), then a tombstone. */
  async deleteUser(directoryId: string, id: string, expectedVersion?: number): Promise<UserRecord> {
    const dirId = checkId("directory_id", directoryId);
    return this.deprovisioning(dirId, true, async (repos, gate) => {
      // Groups before the user, as every member change locks them: the user's groups are
      // found without a lock, locked in id order, then the user, and the groups read again
      // under its lock (a group joined in between is locked last; a deadlock that can still
      // cause is retried by the store).
      const seen = checkNotDeleted(isId(id) ? await repos.users.get(dirId, id.toLowerCase()) : undefined, "user", id);
      const locked = new Map<string, GroupRecord | undefined>();
      for (const groupId of await repos.memberships.groupsOf(seen.id)) locked.set(groupId, await repos.groups.getForUpdate(dirId, groupId));
      const current = checkNotDeleted(await repos.users.getForUpdate(dirId, seen.id), "user", id);
      checkVersion(current.version, expectedVersion, "user");
      const now = new Date();
      // Deleting an active user deprovisions them; an inactive one was counted when deactivated.
      const brakeEvents = gate ? await gate.check(repos, { kind: "users", count: current.active ? 1 : 0 }, now) : [];
      const groupEvents: NewEvent[] = [];
      const facts: UserFact[] = [];
      let version = current.version;
      const groupIds = await repos.memberships.groupsOf(current.id);
      // Each removal event states the groups the user is still in after it.
      const remaining: GroupRef[] = [];
      const groups: GroupRecord[] = [];
      for (const groupId of groupIds) {
        const group = locked.has(groupId) ? locked.get(groupId) : await repos.groups.getForUpdate(dirId, groupId);
        if (!group) continue;
        groups.push(group);
        remaining.push(groupRef(group));
      }
      for (const group of groups) {
        const removed = await repos.memberships.remove(group.id, [current.id]);
        const memberCount = await repos.memberships.adjustCount(group.id, -removed.length);
        const updatedGroup: GroupRecord = { ...group, memberCount, version: group.version + 1, updatedAt: now };
        await repos.groups.update(updatedGroup);
        groupEvents.push(groupEvent(updatedGroup, updatedGroup.version, "group.members_removed", { userIds: [current.id], part: 1, parts: 1 }));
        remaining.splice(remaining.findIndex((g) => g.id === group.id), 1);
        facts.push({ user: { ...current, updatedAt: now, version: ++version }, groups: [...remaining], type: "user.removed_from_group", extra: { group: groupRef(group) } });
      }
      const deleted: UserRecord = { ...current, state: "deleted", active: false, deletedAt: now, updatedAt: now, version: version + 1 };
      facts.push({ user: deleted, groups: [], type: "user.deleted" });
      const userEvents = await this.userEvents(repos, dirId, facts);
      // Per removal, the group's event then the user's (as before).
      const events = groupEvents.flatMap((g, i) => [g, userEvents[i]!]);
      events.push(userEvents.at(-1)!, ...brakeEvents);
      await repos.users.update(deleted);
      await repos.outbox.append(events);
      return deleted;
    });
  }

  // ---- groups

  async createGroup(directoryId: string, raw: unknown, memberUserIds: readonly string[]): Promise<GroupRecord> {
    const dirId = checkId("directory_id", directoryId);
    const fields = groupFields(raw);
    return this.store.transact(async (repos) => {
      await this.directory(repos, dirId);
      const now = new Date();
      // One group.created per part of the initial members: the group's version counts them.
      const parts = memberParts([...new Set(memberUserIds.map((m) => m.toLowerCase()))]);
      const group: GroupRecord = { id: newId(), directoryId: dirId, ...fields, memberCount: 0, version: parts.length, createdAt: now, updatedAt: now, deletedAt: null };
      await repos.groups.insert(group);
      const events: NewEvent[] = [];
      const created = await this.changeMembers(repos, group, { add: memberUserIds, remove: [] }, now, events, false);
      events.unshift(
        ...parts.map((p) => groupEvent({ ...created, version: p.part }, p.part, "group.created", { memberUserIds: p.ids, part: p.part, parts: p.parts })),
      );
      await repos.outbox.append(events);
      return created;
    });
  }

  async getGroup(directoryId: string, id: string): Promise<GroupRecord> {
    const dirId = checkId("directory_id", directoryId);
    return checkNotDeleted(isId(id) ? await this.store.read.groups.get(dirId, id.toLowerCase()) : undefined, "group", id);
  }

  async listGroups(directoryId: string, options: ListOptions): Promise<Listed<GroupRecord>> {
    const dirId = checkId("directory_id", directoryId);
    const directory = await this.directory(this.store.read, dirId);
    const { query, next } = listQuery(options, !directory.strict, false);
    const result = await this.store.read.groups.list(dirId, { ...query, limit: query.limit + 1 });
    const page = result.items.slice(0, query.limit);
    return { items: page, total: result.total, nextPageToken: next(page, result.items.length > page.length), startIndex: query.offset + 1 };
  }

  /** Attribute changes (rename...) and member changes of one group, all or nothing. */
  async updateGroup(
    directoryId: string,
    id: string,
    change: { resource?: unknown; members: MemberChanges; expectedVersion?: number | undefined },
  ): Promise<GroupRecord> {
    const dirId = checkId("directory_id", directoryId);
    if (change.resource !== undefined) refuseIdChange(change.resource, id);
    const fields = change.resource === undefined ? undefined : groupFields(change.resource);
    const mayRemove = change.members.replaceAll !== undefined || change.members.remove.length > 0;
    return this.deprovisioning(dirId, mayRemove, async (repos, gate) => {
      const current = checkNotDeleted(isId(id) ? await repos.groups.getForUpdate(dirId, id.toLowerCase()) : undefined, "group", id);
      checkVersion(current.version, change.expectedVersion, "group");
      return this.writeGroup(repos, gate, current, fields, change.members);
    });
  }

  /**
   * A SCIM PATCH of a group, in one transaction under the group's row lock, as patchUser.
   * The member list is never read: member operations become set-based changes.
   */
  async patchGroup(directoryId: string, id: string, operations: readonly PatchOperation[], expectedVersion?: number): Promise<GroupRecord> {
    const dirId = checkId("directory_id", directoryId);
    const lenient = !(await this.directoryOf(dirId)).strict;
    // Only a patch that names `members` can remove members: the others skip the brake's lock.
    return this.deprovisioning(dirId, mentions(operations, "members"), async (repos, gate) => {
      const current = checkNotDeleted(isId(id) ? await repos.groups.getForUpdate(dirId, id.toLowerCase()) : undefined, "group", id);
      checkVersion(current.version, expectedVersion, "group");
      const result = applyPatch("Group", scimGroup(current) as JsonObject, patchBody(operations), { lenient });
      if (!result.changed && !result.members) return current;
      let fields: GroupFields | undefined;
      if (result.changed) {
        const { members: _members, ...attributes } = result.resource;
        refuseIdChange(attributes, current.id);
        fields = groupFields(attributes);
      }
      const members = result.members ?? { add: [], remove: [] };
      return this.writeGroup(repos, gate, current, fields, members);
    });
  }

  /** Writes a group's new fields and member changes (the caller holds its row lock). */
  private async writeGroup(repos: Repositories, gate: BrakeGate | undefined, current: GroupRecord, fields: GroupFields | undefined, members: MemberChanges): Promise<GroupRecord> {
    const now = new Date();
    const events: NewEvent[] = [];
    let group = current;
    if (fields && !sameJson(current.resource, fields.resource)) {
      group = { ...current, ...fields, version: current.version + 1, updatedAt: now };
      events.push(groupEvent(group, group.version, "group.updated", { changedAttributes: changedAttributes(current.resource, fields.resource) }));
    }
    group = await this.changeMembers(repos, group, members, now, events, true, gate);
    if (group !== current) await repos.groups.update(group);
    if (group.displayName !== current.displayName || group.externalId !== current.externalId) {
      events.push(...(await this.rolesAfterRename(repos, current, group, now)));
    }
    await repos.outbox.append(events);
    return group;
  }

  async deleteGroup(directoryId: string, id: string, expectedVersion?: number): Promise<GroupRecord> {
    const dirId = checkId("directory_id", directoryId);
    return this.store.transact(async (repos) => {
      const current = checkNotDeleted(isId(id) ? await repos.groups.getForUpdate(dirId, id.toLowerCase()) : undefined, "group", id);
      checkVersion(current.version, expectedVersion, "group");
      const now = new Date();
      const events: NewEvent[] = [];
      const emptied = await this.changeMembers(repos, current, { replaceAll: [], add: [], remove: [] }, now, events, true);
      const deleted: GroupRecord = { ...emptied, deletedAt: now, updatedAt: now, version: emptied.version + 1 };
      events.push(groupEvent(deleted, deleted.version, "group.deleted"));
      await repos.groups.update(deleted);
      await repos.outbox.append(events);
      return deleted;
    });
  }

  async listMembers(directoryId: string, groupId: string, pageSize: number, pageToken: string): Promise<{ members: MemberRow[]; nextPageToken: string; total: number }> {
    const group = await this.getGroup(directoryId, groupId);
    const size = checkPageSize(pageSize, 100, 1000);
    const after = pageToken === "" ? undefined : tokenString(pageToken, "after");
    const rows = await this.store.read.memberships.members(group.id, after === undefined ? undefined : checkId("page_token", after), size + 1);
    const members = rows.slice(0, size);
    const last = members.at(-1);
    return { members, nextPageToken: rows.length > size && last ? encodePageToken({ after: last.userId }) : "", total: group.memberCount };
  }

  async listUserGroups(directoryId: string, userId: string): Promise<GroupRecord[]> {
    return (await this.getUser(directoryId, userId)).groups;
  }

  // ---- internals

  /**
   * A group's new name or externalId can change what role rules say of every member: their
   * roles are re-derived, page by page under their row locks, with an event for each user
   * whose roles changed. Skipped when no rule can depend on it.
   */
  private async rolesAfterRename(repos: Repositories, before: GroupRecord, after: GroupRecord, now: Date): Promise<NewEvent[]> {
    if (!this.membershipHook || !(await this.membershipHook.groupsCanChangeRoles(repos, after.directoryId))) return [];
    const events: NewEvent[] = [];
    let afterUserId: string | undefined;
    for (;;) {
      const page = await repos.memberships.members(after.id, afterUserId, RENAME_PAGE);
      if (page.length === 0) return events;
      const users = await repos.users.lockLive(after.directoryId, page.map((m) => m.userId));
      const deltas = users.map((u) => ({ userId: u.id, joined: [groupRef(after)], left: [groupRef(before)] }));
      const versions = new Map<string, number>();
      events.push(...(await this.membershipHook.rolesChanged(repos, after.directoryId, deltas, versions, now)));
      await repos.users.setVersions(versions, now);
      if (page.length < RENAME_PAGE) return events;
      afterUserId = page.at(-1)!.userId;
    }
  }

  /**
   * The events of user facts, each payload with the user's canonical form when a projector is
   * set. Call after the users are locked and their memberships changed.
   */
  private async userEvents(repos: Repositories, directoryId: string, facts: readonly UserFact[]): Promise<NewEvent[]> {
    if (facts.length === 0) return [];
    const canonical = this.projector ? await this.projector.canonical(repos, directoryId, facts) : [];
    return facts.map((f, i) => userEvent(f.user, f.user.version, f.type, { ...f.extra, ...canonical[i] }));
  }

  /** The directory as every request sees it (cached briefly): its strictness picks the PATCH dialect. */
  private async directoryOf(id: string): Promise<Directory> {
    return this.directories ? this.directories.cachedDirectory(id) : this.directory(this.store.read, id);
  }

  private async directory(repos: Repositories, id: string): Promise<Directory> {
    const directory = await repos.directories.get(id);
    if (!directory) throw new NotFoundError(`directory ${excerpt(id)} not found`);
    return directory;
  }

  /**
   * Applies member changes with set-based SQL (never reading the member list), then bumps
   * the group's version once per kind of change and each affected user's by one, with an
   * event for every fact. Returns the group as it is after.
   */
  private async changeMembers(
    repos: Repositories,
    group: GroupRecord,
    members: MemberChanges,
    now: Date,
    events: NewEvent[],
    groupEvents: boolean,
    gate?: BrakeGate,
  ): Promise<GroupRecord> {
    const add = checkMemberIds(members.add);
    const remove = new Set(checkMemberIds(members.remove));
    const replaceAll = members.replaceAll && checkMemberIds(members.replaceAll);
    const toAdd = [...new Set([...(replaceAll ?? []), ...add])].filter((m) => !remove.has(m));
    const live = await repos.users.lockLive(group.directoryId, toAdd);
    if (live.length !== toAdd.length) {
      const found = new Set(live.map((u) => u.id));
      const missing = toAdd.filter((m) => !found.has(m)).slice(0, 5);
      // Members are users only: a group given as one is named as such, not as a missing user.
      for (const id of missing) {
        const nested = await repos.groups.get(group.directoryId, id);
        if (nested && !nested.deletedAt) {
          throw nestedGroupError(id);
        }
      }
      throw new InvalidInputError("invalidValue", `no such user in this directory: ${missing.join(", ")}`);
    }
    const removed = replaceAll ? await repos.memberships.removeAllExcept(group.id, toAdd) : await repos.memberships.remove(group.id, [...remove]);
    // The removal is judged once its size is known; a refusal rolls it back with the rest.
    const brakeEvents = gate && removed.length > 0 ? await gate.check(repos, { kind: "groupWipe", groupId: group.id, removed: removed.length, membersBefore: group.memberCount }, now) : [];
    events.push(...brakeEvents);
    const added = await repos.memberships.add(group.directoryId, group.id, toAdd, now);
    if (added.length === 0 && removed.length === 0) return group;

    const memberCount = await repos.memberships.adjustCount(group.id, added.length - removed.length);
    let version = group.version;
    const ref = groupRef(group);
    const after = (v: number): GroupRecord => ({ ...group, memberCount, version: v, updatedAt: now });
    // One event per part of each list (MAX_MEMBER_IDS_PER_EVENT ids), each a version of the group.
    for (const [type, ids] of [["group.members_added", added], ["group.members_removed", removed]] as const) {
      if (!groupEvents || ids.length === 0) continue;
      for (const p of memberParts(ids)) events.push(groupEvent(after(++version), version, type, { userIds: p.ids, part: p.part, parts: p.parts }));
    }

    const removedUsers = await repos.users.lockLive(group.directoryId, removed);
    const versions = new Map<string, number>();
    const addedSet = new Set(added);
    const facts: UserFact[] = [];
    for (const user of live.filter((u) => addedSet.has(u.id))) {
      const v = user.version + 1;
      versions.set(user.id, v);
      facts.push({ user: { ...user, updatedAt: now, version: v }, type: "user.added_to_group", extra: { group: ref } });
    }
    for (const user of removedUsers) {
      const v = user.version + 1;
      versions.set(user.id, v);
      facts.push({ user: { ...user, updatedAt: now, version: v }, type: "user.removed_from_group", extra: { group: ref } });
    }
    // Groups omitted: the projector reads them, as they are after this change.
    events.push(...(await this.userEvents(repos, group.directoryId, facts)));
    if (this.membershipHook) {
      const deltas: MembershipDelta[] = [
        ...live.filter((u) => addedSet.has(u.id)).map((u) => ({ userId: u.id, joined: [ref], left: [] })),
        ...removedUsers.map((u) => ({ userId: u.id, joined: [], left: [ref] })),
      ];
      events.push(...(await this.membershipHook.rolesChanged(repos, group.directoryId, deltas, versions, now)));
    }
    await repos.users.setVersions(versions, now);
    return after(version);
  }
}

/** One operation of a SCIM PatchOp request, as the client sent it. */
export interface PatchOperation {
  readonly op: string;
  readonly path?: string | undefined;
  readonly value?: unknown;
}

/** The PatchOp request the operations came in, for the PATCH engine (which checks them all). */
function patchBody(operations: readonly PatchOperation[]): JsonObject {
  return {
    schemas: [PATCH_OP_SCHEMA],
    Operations: operations.map((o) => ({ op: o.op, ...(o.path === undefined ? {} : { path: o.path }), ...(o.value === undefined ? {} : { value: o.value as JsonValue }) })),
  };
}

/** Whether any operation could name the attribute (by path, or as a key of a path-less value). */
function mentions(operations: readonly PatchOperation[], attribute: string): boolean {
  return operations.some((o) => (o.path ?? "").toLowerCase().includes(attribute) || (o.value !== undefined && JSON.stringify(o.value).toLowerCase().includes(attribute)));
}

/** A fact about one user, to become an event: the user as of it (version = its sequence). */
interface UserFact extends CanonicalInput {
  readonly type: EventType;
  readonly extra?: Json;
}

function checkMemberIds(ids: readonly string[]): string[] {
  if (ids.length > MAX_MEMBERS_PER_CALL) throw new InvalidInputError("tooMany", `at most ${MAX_MEMBERS_PER_CALL} members per request`);
  return ids.map((id) => {
    if (!isId(id)) throw new InvalidInputError("invalidValue", `no such user in this directory: ${quote(id)}`);
    return id.toLowerCase();
  });
}

function tokenString(pageToken: string, field: string): string {
  const value = decodePageToken(pageToken)[field];
  if (typeof value !== "string") throw new InvalidInputError("invalidValue", "page_token is not one this service issued");
  return value;
}

/** Parses the listing options into a query, and says how to make the next page's token. */
function listQuery(options: ListOptions, lenient: boolean, includeDeleted: boolean) {
  if (options.filter.length > MAX_FILTER_LENGTH) throw new InvalidInputError("invalidFilter", `filter must be at most ${MAX_FILTER_LENGTH} characters`);
  const filter = options.filter.trim() === "" ? undefined : parseFilter(options.filter, { lenient });
  let sortBy: AttrRef | undefined;
  if (options.sortBy.trim() !== "") {
    const refs = parseAttributeList(options.sortBy);
    if (refs.length !== 1) throw new InvalidInputError("invalidValue", "sortBy must name one attribute");
    sortBy = refs[0];
  }
  const limit = checkPageSize(options.pageSize, 100, 1000);
  if (options.startIndex < 0) throw new InvalidInputError("invalidValue", "start_index must be 1 or more");
  if (options.startIndex > 0 && options.pageToken !== "") throw new InvalidInputError("invalidValue", "use either a page token or a start index, not both");
  let offset = options.startIndex > 0 ? options.startIndex - 1 : 0;
  let afterId: string | undefined;
  if (options.pageToken !== "") {
    const token = decodePageToken(options.pageToken);
    if (typeof token.after === "string" && !sortBy) afterId = checkId("page_token", token.after);
    else if (typeof token.offset === "number" && Number.isInteger(token.offset) && token.offset >= 0) offset = token.offset;
    else throw new InvalidInputError("invalidValue", "page_token is not one this service issued");
  }
  const query = { filter, sortBy, descending: options.descending, afterId, offset, limit, includeDeleted };
  // Unsorted listings page by id (stable under inserts); sorted ones by position.
  const next = (items: Array<{ id: string }>, more: boolean): string => {
    if (!more || items.length === 0) return "";
    return sortBy || options.startIndex > 0 ? encodePageToken({ offset: offset + items.length }) : encodePageToken({ after: items.at(-1)!.id });
  };
  return { query, next };
}
