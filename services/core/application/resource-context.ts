// The shared machinery of the user, group and membership use cases (./users, ./groups): each
// write runs in one transaction, locks the aggregates it changes (group before users, users
// in id order), sets their versions, and appends one event per fact to the outbox in that
// same transaction.
import { isId, type Directory } from "../domain/directory.ts";
import { InvalidInputError, NotFoundError } from "../domain/errors.ts";
import { excerpt, quote } from "../../platform/text.ts";
import { groupEvent, groupRef, memberParts, userEvent, type EventType, type GroupRef, type NewEvent } from "../domain/events.ts";
import { changedAttributes, nestedGroupError, sameJson, type GroupFields, type GroupRecord, type Json, type UserFields, type UserRecord } from "../domain/resources.ts";
import type { JsonObject, JsonValue } from "../../platform/scim/json.ts";
import { PATCH_OP_SCHEMA } from "../../platform/scim/patch-request.ts";
import type { DirectoryUseCases } from "./directories.ts";
import type { BrakeGate, BrakeUseCases } from "./brake.ts";
import type { CanonicalInput, CanonicalProjector } from "./canonical.ts";
import type { Repositories, Store } from "./store.ts";

export interface MemberChanges {
  /** When set, the member set becomes exactly these (before add and remove). */
  readonly replaceAll?: readonly string[] | undefined;
  readonly add: readonly string[];
  readonly remove: readonly string[];
}

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

// How long a directory found with a deprovisioning brake on skips the attempt without it.
const BRAKE_ON_MEMORY_MS = 10_000;
const MAX_BRAKES_REMEMBERED = 10_000;

/** A deactivation written without the brake's lock found a brake on: run it again with it. */
class BrakeOn extends Error {
  override name = "BrakeOn";
}

/** How writeUser may write. */
export interface WriteOptions {
  /** The user's groups, when read already: the events' canonical forms need no read then. */
  readonly groups?: readonly GroupRef[] | undefined;
  /** Written without the brake's lock (deprovisioningUnlessBrakeOff): a deactivation must find no brake on. */
  readonly brakeUnchecked?: boolean;
}

// Members re-derived per statement when a group's identity changes.
const RENAME_PAGE = 1000;
const MAX_MEMBERS_PER_CALL = 100_000;

/**
 * What every use case of users, groups and memberships works with: the store, the optional
 * collaborators, and the writes they share (a user's or a group's change with its events, member
 * changes, the canonical forms of user events). Each use case is a function of its own file.
 */
export class ResourceContext {
  readonly store: Store;
  readonly projector: CanonicalProjector | undefined;
  private readonly membershipHook: MembershipHook | undefined;
  private readonly brake: BrakeUseCases | undefined;
  private readonly directories: Pick<DirectoryUseCases, "cachedDirectory"> | undefined;
  /** When a brake was last found on, per directory (see deprovisioningUnlessBrakeOff). */
  private readonly brakesOn = new Map<string, number>();
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
  deprovisioning<T>(directoryId: string, mayDeprovision: boolean, fn: (repos: Repositories, gate: BrakeGate | undefined) => Promise<T>): Promise<T> {
    if (!this.brake || !mayDeprovision) return this.store.transact((repos) => fn(repos, undefined));
    return this.brake.transact(directoryId, fn);
  }

  /**
   * A write that may deprovision, without the brake's lock while the directory has no brake
   * on: fn runs in a plain transaction and is told to have its write check there is none
   * (writeUser's `brakeUnchecked`); if there is one, that transaction is rolled back and fn
   * runs again through the brake's (locks in the brake's order: brake row first). Directories
   * found with a brake on go through the brake's transaction for a while without trying.
   */
  async deprovisioningUnlessBrakeOff<T>(directoryId: string, mayDeprovision: boolean, fn: (repos: Repositories, gate: BrakeGate | undefined, brakeUnchecked: boolean) => Promise<T>): Promise<T> {
    if (!this.brake || !mayDeprovision) return this.store.transact((repos) => fn(repos, undefined, false));
    const seen = this.brakesOn.get(directoryId);
    if (seen === undefined || seen < performance.now() - BRAKE_ON_MEMORY_MS) {
      try {
        return await this.store.transact((repos) => fn(repos, undefined, true));
      } catch (error) {
        if (!(error instanceof BrakeOn)) throw error;
        this.brakesOn.delete(directoryId);
        this.brakesOn.set(directoryId, performance.now());
        if (this.brakesOn.size > MAX_BRAKES_REMEMBERED) this.brakesOn.delete(this.brakesOn.keys().next().value!);
      }
    }
    return this.brake.transact(directoryId, (repos, gate) => fn(repos, gate, false));
  }

  /** The directory as every request sees it (cached briefly): its strictness picks the PATCH dialect. */
  async directoryOf(id: string): Promise<Directory> {
    return this.directories ? this.directories.cachedDirectory(id) : this.directory(this.store.read, id);
  }

  async directory(repos: Repositories, id: string): Promise<Directory> {
    const directory = await repos.directories.get(id);
    if (!directory) throw new NotFoundError(`directory ${excerpt(id)} not found`);
    return directory;
  }

  /**
   * The events of user facts, each payload with the user's canonical form when a projector is
   * set. Call after the users are locked and their memberships changed.
   */
  async userEvents(repos: Repositories, directoryId: string, facts: readonly UserFact[]): Promise<NewEvent[]> {
    if (facts.length === 0) return [];
    const canonical = this.projector ? await this.projector.canonical(repos, directoryId, facts) : [];
    return facts.map((f, i) => userEvent(f.user, f.user.version, f.type, { ...f.extra, ...canonical[i] }));
  }

  /** The events of facts about one user with known groups, without a query; undefined when the rules are not in memory. */
  speculatedEvents(directoryId: string, facts: readonly UserFact[], groups: readonly GroupRef[]): { events: NewEvent[]; mappingVersion: number | undefined } | undefined {
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

  /**
   * Writes a user's new fields (the caller holds its row lock): one event for the attribute
   * changes, one for a change of `active`, nothing when nothing changed (see WriteOptions).
   */
  async writeUser(repos: Repositories, gate: BrakeGate | undefined, current: UserRecord, fields: UserFields, options: WriteOptions = {}): Promise<UserRecord> {
    if (sameJson(current.resource, fields.resource)) return current;
    const { groups } = options;
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
    const deactivates = activeChanged && !fields.active;
    const brakeEvents = deactivates && gate ? await gate.check(repos, { kind: "users", count: 1 }, now) : [];
    // Without the brake's lock, a deactivation is written only while no brake is on.
    const brakeOff = deactivates && options.brakeUnchecked === true;
    // With the groups known, the events' canonical forms come from the rules in memory, and
    // the user and its events are one statement that checks those rules are still current.
    const speculated = groups === undefined ? undefined : this.speculatedEvents(current.directoryId, facts, groups);
    if (speculated) {
      const outcome = await repos.users.updateWithEvents(saved, [...speculated.events, ...brakeEvents], { mappingVersion: speculated.mappingVersion, brakeOff });
      if (outcome === "written") return saved;
      if (outcome === "brakeOn") throw new BrakeOn();
    }
    if (brakeOff && ((await repos.brakes.get(current.directoryId))?.policy.mode ?? "off") !== "off") throw new BrakeOn();
    await repos.users.update(saved);
    await repos.outbox.append([...(await this.userEvents(repos, current.directoryId, facts)), ...brakeEvents]);
    return saved;
  }

  /** Writes a group's new fields and member changes (the caller holds its row lock). */
  async writeGroup(repos: Repositories, gate: BrakeGate | undefined, current: GroupRecord, fields: GroupFields | undefined, members: MemberChanges): Promise<GroupRecord> {
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

  /**
   * Applies member changes with set-based SQL (never reading the member list), then bumps
   * the group's version once per kind of change and each affected user's by one, with an
   * event for every fact. Returns the group as it is after.
   */
  async changeMembers(
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

  /**
   * A group's new name or externalId can change what role rules say of every member: their
   * roles are re-derived, page by page under their row locks, with an event for each user
   * whose roles changed. Skipped when no rule can depend on it.
   */
  async rolesAfterRename(repos: Repositories, before: GroupRecord, after: GroupRecord, now: Date): Promise<NewEvent[]> {
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
}

/** One operation of a SCIM PatchOp request, as the client sent it. */
export interface PatchOperation {
  readonly op: string;
  readonly path?: string | undefined;
  readonly value?: unknown;
}

/** The PatchOp request the operations came in, for the PATCH engine (which checks them all). */
export function patchBody(operations: readonly PatchOperation[]): JsonObject {
  return {
    schemas: [PATCH_OP_SCHEMA],
    Operations: operations.map((o) => ({ op: o.op, ...(o.path === undefined ? {} : { path: o.path }), ...(o.value === undefined ? {} : { value: o.value as JsonValue }) })),
  };
}

/** Whether any operation could name the attribute (by path, or as a key of a path-less value). */
export function mentions(operations: readonly PatchOperation[], attribute: string): boolean {
  return operations.some((o) => (o.path ?? "").toLowerCase().includes(attribute) || (o.value !== undefined && JSON.stringify(o.value).toLowerCase().includes(attribute)));
}

/** A fact about one user, to become an event: the user as of it (version = its sequence). */
export interface UserFact extends CanonicalInput {
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
