// What the use cases need from storage. Implemented by ../persistence; the use cases know
// nothing of MikroORM or SQL.
import type { ApiKey, ApiKeyScope, Directory, ScimToken } from "../domain/directory.ts";
import type { NewEvent } from "../domain/events.ts";
import type { GroupRecord, UserRecord } from "../domain/resources.ts";
import type { AttrRef, Filter } from "../../platform/scim/ast.ts";
import type { AuditRecord } from "../domain/audit.ts";
import type { Brake } from "../domain/brake.ts";

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
  /** In id order; with onlyIds, only those directories. */
  list(pageSize: number, afterId: string | undefined, onlyIds?: readonly string[]): Promise<Directory[]>;
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
  /** Unrevoked keys of this scope that reach every directory. */
  countActiveGlobal(scope: ApiKeyScope): Promise<number>;
  revoke(id: string, at: Date): Promise<void>;
  touch(id: string, at: Date): Promise<void>;
}

/**
 * Every repository a transaction offers: the core's own, and those of modules built on the
 * core (services/mapping), which add theirs to this interface by module augmentation and hand
 * their implementations to the Store. The core names none of them.
 */
export interface Repositories {
  readonly directories: DirectoryRepository;
  readonly scimTokens: ScimTokenRepository;
  readonly apiKeys: ApiKeyRepository;
  readonly users: UserRepository;
  readonly groups: GroupRepository;
  readonly memberships: MembershipRepository;
  readonly outbox: OutboxRepository;
  readonly audit: AuditRepository;
  readonly brakes: BrakeRepository;
}

export interface Store {
  /** Runs fn in one transaction; every repository it is given works inside it. */
  transact<T>(fn: (repos: Repositories) => Promise<T>): Promise<T>;
  /**
   * Repositories outside any explicit transaction: each call is its own statement. For
   * reads, and for writes that are a single atomic statement.
   */
  readonly read: Repositories;
  /**
   * Runs fn in one read-only REPEATABLE READ transaction: every read sees the database as of
   * the same instant, however long fn takes.
   */
  snapshot<T>(fn: (repos: Repositories) => Promise<T>): Promise<T>;
  ping(): Promise<void>;
}

export interface ListQuery {
  /** A parsed SCIM filter; the persistence layer compiles it to SQL. */
  readonly filter: Filter | undefined;
  readonly sortBy: AttrRef | undefined;
  readonly descending: boolean;
  /** Keyset: only rows whose id sorts after this (when sortBy is unset). */
  readonly afterId: string | undefined;
  /** Offset (SCIM startIndex - 1, or a sorted cursor's position). */
  readonly offset: number;
  readonly limit: number;
  readonly includeDeleted: boolean;
}

export interface ListResult<T> {
  readonly items: T[];
  readonly total: number;
}

export interface UserRepository {
  insert(user: UserRecord): Promise<void>;
  /**
   * Inserts a new user and its events in one statement, unless a deleted user with the
   * same externalId exists, or (when `mappingVersion` is given) the directory's mapping is no
   * longer at that version or a remap is running: then nothing is written and the result is
   * false. The mapping check lets events derived from cached rules be written without a read.
   */
  insertUnlessTombstoned(user: UserRecord, events: readonly NewEvent[], mappingVersion?: number): Promise<boolean>;
  get(directoryId: string, id: string): Promise<UserRecord | undefined>;
  getForUpdate(directoryId: string, id: string): Promise<UserRecord | undefined>;
  /** Locks the user and reads its groups in the same round trip. */
  getForUpdateWithGroups(directoryId: string, id: string): Promise<{ user: UserRecord; groups: GroupRecord[] } | undefined>;
  /** A deleted user with this externalId, for relinking a re-provisioned user. */
  findTombstoneForUpdate(directoryId: string, externalId: string): Promise<UserRecord | undefined>;
  update(user: UserRecord): Promise<void>;
  /**
   * Updates a locked user and appends its events in one statement, unless a guard fails: when
   * `mappingVersion` is given, the directory's mapping must still be at it with no remap
   * running; with `brakeOff`, the directory must have no deprovisioning brake on. Nothing is
   * written when one fails, and the result names which.
   */
  updateWithEvents(user: UserRecord, events: readonly NewEvent[], guard: { mappingVersion: number | undefined; brakeOff: boolean }): Promise<"written" | "mappingMoved" | "brakeOn">;
  list(directoryId: string, query: ListQuery): Promise<ListResult<UserRecord>>;
  /** Locks the live users among ids (in id order, so concurrent writers cannot deadlock). */
  lockLive(directoryId: string, ids: readonly string[]): Promise<UserRecord[]>;
  /** Sets each user's version (and updated_at) after a membership change. */
  setVersions(versions: ReadonlyMap<string, number>, at: Date): Promise<void>;
  /** How many live (not deleted) users the directory has. */
  countLive(directoryId: string): Promise<number>;
  /** The next live users after `afterId` in id order, locked (in id order, like lockLive). */
  lockLiveAfter(directoryId: string, afterId: string | null, limit: number): Promise<UserRecord[]>;
}

export interface GroupRepository {
  insert(group: GroupRecord): Promise<void>;
  get(directoryId: string, id: string): Promise<GroupRecord | undefined>;
  getForUpdate(directoryId: string, id: string): Promise<GroupRecord | undefined>;
  update(group: GroupRecord): Promise<void>;
  list(directoryId: string, query: ListQuery): Promise<ListResult<GroupRecord>>;
}

export interface MemberRow {
  readonly userId: string;
  readonly displayName: string | null;
  readonly userName: string;
  readonly addedAt: Date;
}

export interface MembershipRepository {
  /** Inserts the missing memberships; returns the user ids actually added. */
  add(directoryId: string, groupId: string, userIds: readonly string[], at: Date): Promise<string[]>;
  /** Deletes the named memberships; returns the user ids actually removed. */
  remove(groupId: string, userIds: readonly string[]): Promise<string[]>;
  /** Deletes every membership of the group except those of keep; returns the removed ids. */
  removeAllExcept(groupId: string, keep: readonly string[]): Promise<string[]>;
  /** Group ids the user belongs to. */
  groupsOf(userId: string): Promise<string[]>;
  members(groupId: string, afterUserId: string | undefined, limit: number): Promise<MemberRow[]>;
  /**
   * Moves the group's member_count by delta and returns it. Callers hold the group's row lock
   * and pass the rows they actually inserted or deleted, so the count never needs the list.
   */
  adjustCount(groupId: string, delta: number): Promise<number>;
  /** Groups of a user, for SCIM's read-only User.groups. */
  groupRefsOf(userIds: readonly string[]): Promise<Map<string, GroupRecord[]>>;
}

export interface OutboxRepository {
  append(events: readonly NewEvent[]): Promise<void>;
  /**
   * The highest position assigned to the directory's events (or deleted by the replay-window
   * cleanup); 0 when none.
   */
  headPosition(directoryId: string): Promise<bigint>;
}

export interface AuditQuery {
  readonly since: Date | undefined;
  readonly status: number;
  /** Keyset: records older than this one. */
  readonly before: { readonly at: Date; readonly id: string } | undefined;
  readonly limit: number;
}

export interface AuditRepository {
  /**
   * Inserts the records. One the database refuses for its content does not cost the others:
   * it is left out and counted.
   */
  append(records: readonly AuditRecord[]): Promise<{ dropped: number }>;
  list(directoryId: string, query: AuditQuery): Promise<AuditRecord[]>;
  /** Deletes at most batch records older than cutoff; returns how many. */
  purgeBefore(cutoff: Date, batch: number): Promise<number>;
}

export interface BrakeRepository {
  get(directoryId: string): Promise<Brake | undefined>;
  /** Locks the directory's brake row until the transaction ends. */
  getForUpdate(directoryId: string): Promise<Brake | undefined>;
  /** Locks and returns the brake unless its policy is off (then nothing is locked). */
  lockEngaged(directoryId: string): Promise<Brake | undefined>;
  /** Inserts or replaces the directory's brake row. */
  save(brake: Brake, at: Date): Promise<void>;
  /** Deprovisions counted at or after since. */
  count(directoryId: string, since: Date): Promise<number>;
  /** Counts n deprovisions at `at`, and forgets counts older than the longest window. */
  record(directoryId: string, n: number, at: Date): Promise<void>;
  /** Forgets every count (a release restarts the window). */
  clearCounts(directoryId: string): Promise<void>;
  /** Live users whose state is active. */
  countActiveUsers(directoryId: string): Promise<number>;
}
