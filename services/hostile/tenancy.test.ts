// Tenancy of API keys, through real Connect clients (HTTP/1.1 and gRPC) on a live server with
// the relay publishing: a key limited to directory A reaches nothing of directory B on any
// RPC of DirectoryService, MappingService, EventService and ConsumerService (the methods are taken from the
// service descriptors, so a new RPC without an access check fails here), and does all it
// may on A; a global key reads both; writes to a suspended directory are refused.
import { randomUUID } from "node:crypto";
import { create, toJsonString, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { Code, createClient, createRouterTransport, type Client, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiKeyScope, DeprovisioningMode, DirectoryService, DirectoryState, HoldDecision, ProviderKind, UserState } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { EventService } from "@roster/sdk/gen/roster/events/v1/events_pb.js";
import { MappingService } from "@roster/sdk/gen/roster/mapping/v1/mapping_pb.js";
import { ConsumerService } from "@roster/sdk/gen/roster/consumers/v1/consumers_pb.js";
import { EVENT_ACCESS } from "../core/transport/access-rules.ts";
import { authInterceptor } from "../core/transport/auth.ts";
import { accessGuard } from "../core/transport/authorize.ts";
import { createLogger } from "../platform/logger.ts";
import { failureOf } from "../testing/connect.ts";
import { queryDatabase } from "../testing/database.ts";
import { eventually } from "../testing/events.ts";
import { uniqueName } from "../testing/kafka.ts";
import { startTestRoster, type TestRoster } from "../testing/roster.ts";
import { createScimDirectory, USER_SCHEMA, type ScimDirectory } from "../testing/scim.ts";

const SERVICES: readonly DescService[] = [DirectoryService, MappingService, EventService, ConsumerService];

// Methods whose request names no directory. Each is either refused to a limited key or
// answers without any other directory's data; a new one must be decided and listed here.
const NAMES_NO_DIRECTORY = new Set([
  "DirectoryService/CreateDirectory",
  "DirectoryService/ListDirectories",
  "DirectoryService/AuthenticateScimToken",
  "DirectoryService/AppendScimAuditRecords",
  "DirectoryService/CreateApiKey",
  "DirectoryService/ListApiKeys",
  "DirectoryService/RevokeApiKey",
  "MappingService/ListPresets",
]);

let t: TestRoster;
let a: ScimDirectory;
let b: ScimDirectory;
let aUser: string;
let aGroup: string;
let bUser: string;
let bGroup: string;
/** Limited to A: admin (every write), read, and admin over A and a third directory. */
let adminA = "";
let readA = "";
let globalRead = "";
let globalReadId = "";

const userResource = (userName: string) => ({ schemas: [USER_SCHEMA], userName, name: { givenName: "Ada", familyName: "Lovelace" } });

function transportsFor(key: string): Record<string, Transport> {
  const interceptors = [
    (next: (req: { header: Headers }) => unknown) => (req: { header: Headers }) => {
      req.header.set("authorization", `Bearer ${key}`);
      return next(req);
    },
  ] as never;
  return {
    "Connect over HTTP/1.1": createConnectTransport({ baseUrl: t.url, httpVersion: "1.1", interceptors }),
    "gRPC over HTTP/2": createGrpcTransport({ baseUrl: t.url, interceptors }),
  };
}

/** Everything stored for a directory, to compare before and after a refused attempt. */
async function snapshotOf(directoryId: string): Promise<unknown> {
  const q = (sql: string) => queryDatabase(t.database.url, sql, [directoryId]);
  return {
    directory: await q("SELECT name, state, strict, updated_at FROM directories WHERE id = $1"),
    users: await q("SELECT id, user_name, state, resource, version FROM users WHERE directory_id = $1 ORDER BY id"),
    groups: await q("SELECT id, display_name, resource, version, deleted_at FROM groups WHERE directory_id = $1 ORDER BY id"),
    memberships: await q("SELECT group_id, user_id FROM memberships WHERE directory_id = $1 ORDER BY group_id, user_id"),
    events: await q("SELECT id FROM outbox_events WHERE directory_id = $1 ORDER BY seq"),
    tokens: await q("SELECT id, revoked_at FROM scim_tokens WHERE directory_id = $1 ORDER BY id"),
    audit: await q("SELECT id FROM scim_audit WHERE directory_id = $1 ORDER BY id"),
    mapping: await q("SELECT version FROM mappings WHERE directory_id = $1"),
    remaps: await q("SELECT id FROM remap_jobs WHERE directory_id = $1 ORDER BY id"),
    keysForIt: await q("SELECT id FROM api_keys WHERE $1 = ANY(directory_ids) ORDER BY id"),
    consumers: await q("SELECT id, name, owner, objective_seconds, acknowledged_position, updated_at FROM consumers WHERE directory_id = $1 ORDER BY id"),
  };
}

/** The field of a request that names its directory, if any. */
function directoryField(method: DescMethod): string | undefined {
  if (method.name === "GetDirectory" || method.name === "UpdateDirectory") return "id";
  return method.input.fields.some((f) => f.localName === "directoryId") ? "directoryId" : undefined;
}

/**
 * A request that, sent with a global admin key, would read or change directory B's real
 * data: B's id, B's user, group and token ids, B's SCIM secret, audit records for B.
 */
function requestAgainst(method: DescMethod, directoryId: string): Record<string, unknown> {
  const subjectId = method.name.includes("Group") ? bGroup : method.name.includes("ScimToken") ? b.tokenId : method.name.includes("ApiKey") ? globalReadId : bUser;
  const init: Record<string, unknown> = {};
  for (const field of method.input.fields) {
    switch (field.localName) {
      case "directoryId":
        init.directoryId = directoryId;
        break;
      case "id":
        init.id = directoryField(method) === "id" ? directoryId : subjectId;
        break;
      case "userId":
      case "subjectId":
        init[field.localName] = bUser;
        break;
      case "groupId":
        init.groupId = bGroup;
        break;
      case "userIds":
      case "memberUserIds":
      case "addMemberUserIds":
        init[field.localName] = [bUser];
        break;
      case "resource":
        init.resource = { ...userResource(`intruder-${method.name}@example.com`), displayName: `intruder ${method.name}` };
        break;
      case "secret":
        init.secret = b.secret;
        break;
      case "directoryIds":
        init.directoryIds = [directoryId];
        break;
      case "scope":
        init.scope = ApiKeyScope.ADMIN;
        break;
      case "name":
        init.name = "intruder";
        break;
      case "state":
        init.state = DirectoryState.ACTIVE;
        break;
      case "records":
        init.records = [{ id: randomUUID(), directoryId, method: "GET", path: "/Users", status: 200 }];
        break;
    }
  }
  return init;
}

/** Calls any method generically; a stream is read to its first message (or its error). */
async function call(transport: Transport, service: DescService, method: DescMethod, init: Record<string, unknown>): Promise<unknown> {
  const client = createClient(service, transport) as unknown as Record<string, (req: unknown, options?: unknown) => unknown>;
  const request = create(method.input, init as never);
  if (method.methodKind === "server_streaming") {
    const stream = client[method.localName]!(request, { signal: AbortSignal.timeout(2_000) }) as AsyncIterable<unknown>;
    for await (const message of stream) return message;
    return undefined;
  }
  return client[method.localName]!(request);
}

beforeAll(async () => {
  t = await startTestRoster({
    ROSTER_ROLES: "core,scim,relay",
    ROSTER_USER_TOPIC: uniqueName("roster-test-users"),
    ROSTER_GROUP_TOPIC: uniqueName("roster-test-groups"),
    ROSTER_RELAY_POLL_MS: "50",
  });
  a = await createScimDirectory(t, ProviderKind.OKTA, "tenant a");
  b = await createScimDirectory(t, ProviderKind.ENTRA, "tenant b");
  const admin = t.client(DirectoryService);
  aUser = (await admin.createUser({ directoryId: a.id, resource: userResource("ada@a.example") })).user!.id;
  bUser = (await admin.createUser({ directoryId: b.id, resource: userResource("bob@b.example") })).user!.id;
  aGroup = (await admin.createGroup({ directoryId: a.id, resource: { displayName: "a team" }, memberUserIds: [aUser] })).group!.id;
  bGroup = (await admin.createGroup({ directoryId: b.id, resource: { displayName: "b team" }, memberUserIds: [bUser] })).group!.id;
  // B has a consumer by the name the intruder's requests use.
  await t.client(ConsumerService).registerConsumer({ directoryId: b.id, name: "intruder", owner: "tenant b", objectiveSeconds: 300 });
  await admin.appendScimAuditRecords({
    records: [a.id, b.id].map((directoryId) => ({ id: randomUUID(), directoryId, method: "GET", path: "/Users", status: 200 })),
  });
  adminA = (await admin.createApiKey({ name: "tenant a admin", scope: ApiKeyScope.ADMIN, directoryIds: [a.id] })).secret;
  readA = (await admin.createApiKey({ name: "tenant a read", scope: ApiKeyScope.READ, directoryIds: [a.id] })).secret;
  const read = await admin.createApiKey({ name: "operator read", scope: ApiKeyScope.READ });
  globalRead = read.secret;
  globalReadId = read.key!.id;
  // Every event of both directories is published, so event reads have something to leak.
  await eventually(async () => {
    const [row] = await queryDatabase<{ n: string }>(t.database.url, "SELECT count(*) AS n FROM outbox_pending");
    return row!.n === "0";
  }, 20_000, "the relay to publish");
}, 60_000);

afterAll(async () => {
  await t?.stop();
});

describe("a key limited to directory A", () => {
  it("covers every method of the four services: each names a directory or is listed as naming none", () => {
    for (const service of SERVICES) {
      for (const method of service.methods) {
        const name = `${service.name}/${method.name}`;
        if (directoryField(method) === undefined) expect(NAMES_NO_DIRECTORY, `${name} names no directory: decide its access and list it`).toContain(name);
        else expect(NAMES_NO_DIRECTORY).not.toContain(name);
      }
    }
  });

  for (const protocol of ["Connect over HTTP/1.1", "gRPC over HTTP/2"]) {
    it(`reaches nothing of directory B on any RPC (${protocol})`, async () => {
      const before = await snapshotOf(b.id);
      const transport = transportsFor(adminA)[protocol]!;
      let checked = 0;
      for (const service of SERVICES) {
        for (const method of service.methods) {
          const name = `${service.name}/${method.name}`;
          const init = requestAgainst(method, b.id);
          if (directoryField(method) !== undefined) {
            const refused = await failureOf(call(transport, service, method, init));
            if (refused.code === Code.PermissionDenied) {
              // Refused whatever the directory (operators' RPCs): says nothing about B.
              expect((await failureOf(call(transport, service, method, requestAgainst(method, a.id)))).code, name).toBe(Code.PermissionDenied);
            } else {
              // Answered as for a directory that does not exist: B's existence does not leak.
              expect(refused, name).toEqual({ code: Code.NotFound, message: `directory ${b.id} not found` });
            }
          } else {
            let answer: string;
            try {
              const message = await call(transport, service, method, init);
              answer = toJsonString(method.output, message as never);
            } catch (error) {
              answer = "";
              expect((await failureOf(Promise.reject(error))).code, name).toBe(Code.PermissionDenied);
            }
            for (const secret of [b.id, bUser, bGroup, b.tokenId]) expect(answer, name).not.toContain(secret);
          }
          checked++;
        }
      }
      expect(checked).toBe(SERVICES.reduce((n, s) => n + s.methods.length, 0));
      expect(await snapshotOf(b.id)).toEqual(before);
    }, 60_000);
  }

  it("cannot reach B's users, groups or tokens through its own directory either", async () => {
    const before = await snapshotOf(b.id);
    const transport = transportsFor(adminA)["Connect over HTTP/1.1"]!;
    for (const service of SERVICES) {
      for (const method of service.methods) {
        if (directoryField(method) === undefined) continue;
        // A's id with B's user, group and token ids (and B's SCIM secret where one is taken).
        const init = requestAgainst(method, a.id);
        let answer = "";
        try {
          answer = toJsonString(method.output, (await call(transport, service, method, init)) as never);
        } catch {
          // Refused: error messages may quote the ids given, which is no leak.
        }
        for (const secret of [b.id, bUser, bGroup, b.tokenId]) expect(answer, `${service.name}/${method.name}`).not.toContain(secret);
      }
    }
    expect(await snapshotOf(b.id)).toEqual(before);
  }, 60_000);

  for (const protocol of ["Connect over HTTP/1.1", "gRPC over HTTP/2"]) {
    it(`reads, streams and writes directory A (${protocol})`, async () => {
      const transport = transportsFor(adminA)[protocol]!;
      const directory = createClient(DirectoryService, transport);
      const mapping = createClient(MappingService, transport);
      const events = createClient(EventService, transport);

      expect((await directory.getDirectory({ id: a.id })).directory?.name).toBe("tenant a");
      const listed = await directory.listDirectories({});
      expect(listed.directories.map((d) => d.id)).toEqual([a.id]);
      expect((await directory.listUsers({ directoryId: a.id })).users.map((u) => u.id)).toContain(aUser);
      expect((await directory.getUser({ directoryId: a.id, id: aUser })).user?.groups.map((g) => g.id)).toEqual([aGroup]);
      expect((await directory.listGroupMembers({ directoryId: a.id, groupId: aGroup })).members.map((m) => m.userId)).toContain(aUser);
      expect((await directory.listScimAuditRecords({ directoryId: a.id })).records.length).toBeGreaterThan(0);
      expect((await directory.listScimTokens({ directoryId: a.id })).tokens.map((tk) => tk.id)).toContain(a.tokenId);

      const created = await directory.createUser({ directoryId: a.id, resource: userResource(`new-${protocol.length}-${randomUUID()}@a.example`) });
      await directory.addGroupMembers({ directoryId: a.id, groupId: aGroup, userIds: [created.user!.id] });
      await directory.deactivateUser({ directoryId: a.id, id: created.user!.id });

      expect((await mapping.getMapping({ directoryId: a.id })).mapping?.directoryId).toBe(a.id);
      expect((await mapping.getCanonicalUser({ directoryId: a.id, userId: aUser })).user?.id).toBe(aUser);

      const page = await events.listEvents({ directoryId: a.id });
      expect(page.events.length).toBeGreaterThan(0);
      expect(page.events.every((e) => e.directoryId === a.id)).toBe(true);
      const stream = events.streamEvents({ directoryId: a.id }, { signal: AbortSignal.timeout(5_000) });
      for await (const first of stream) {
        expect(first.event?.directoryId).toBe(a.id);
        break;
      }
      expect((await events.listSubjectEvents({ directoryId: a.id, subjectId: aUser })).events.length).toBeGreaterThan(0);
    });
  }

  it("cannot manage directories or keys, nor mint a key of any reach", async () => {
    const directory = t.client(DirectoryService, adminA);
    const keysBefore = await queryDatabase(t.database.url, "SELECT id FROM api_keys ORDER BY id");
    for (const directoryIds of [[], [a.id], [b.id], [a.id, b.id]]) {
      const refused = await failureOf(directory.createApiKey({ name: "escalate", scope: ApiKeyScope.ADMIN, directoryIds }));
      expect(refused.code).toBe(Code.PermissionDenied);
    }
    expect(await queryDatabase(t.database.url, "SELECT id FROM api_keys ORDER BY id")).toEqual(keysBefore);
    expect((await failureOf(directory.listApiKeys({}))).code).toBe(Code.PermissionDenied);
    expect((await failureOf(directory.createDirectory({ name: "mine", provider: ProviderKind.OKTA }))).code).toBe(Code.PermissionDenied);
    // Suspension is the operators' lever: a tenant's key cannot lift (or set) it.
    expect((await failureOf(directory.updateDirectory({ id: a.id, state: DirectoryState.SUSPENDED }))).code).toBe(Code.PermissionDenied);
  });

  it("is still bound by its scope: a read key limited to A cannot write A", async () => {
    const directory = t.client(DirectoryService, readA);
    expect((await directory.listUsers({ directoryId: a.id })).users.length).toBeGreaterThan(0);
    expect((await failureOf(directory.createUser({ directoryId: a.id, resource: userResource("no@a.example") }))).code).toBe(Code.PermissionDenied);
    expect((await failureOf(directory.listUsers({ directoryId: b.id }))).code).toBe(Code.NotFound);
  });

  it("is told a malformed directory id is malformed, without it echoed at length", async () => {
    const refused = await failureOf(t.client(DirectoryService, adminA).listUsers({ directoryId: "x".repeat(100_000) }));
    expect(refused.code).toBe(Code.InvalidArgument);
    expect(refused.message.length).toBeLessThan(200);
  });
});

describe("a global read key", () => {
  it("reads both directories, their events and audit records", async () => {
    for (const transport of Object.values(transportsFor(globalRead))) {
      const directory = createClient(DirectoryService, transport);
      const events = createClient(EventService, transport);
      const ids = (await directory.listDirectories({})).directories.map((d) => d.id);
      expect(ids).toEqual(expect.arrayContaining([a.id, b.id]));
      for (const [directoryId, userId] of [[a.id, aUser], [b.id, bUser]] as const) {
        expect((await directory.getUser({ directoryId, id: userId })).user?.directoryId).toBe(directoryId);
        expect((await directory.listScimAuditRecords({ directoryId })).records.length).toBeGreaterThan(0);
        expect((await events.listEvents({ directoryId })).events.length).toBeGreaterThan(0);
        for await (const first of events.streamEvents({ directoryId }, { signal: AbortSignal.timeout(5_000) })) {
          expect(first.event?.directoryId).toBe(directoryId);
          break;
        }
      }
      expect((await failureOf(directory.createUser({ directoryId: b.id, resource: userResource("no@b.example") }))).code).toBe(Code.PermissionDenied);
    }
  });
});

describe("API keys limited to directories", () => {
  let admin: Client<typeof DirectoryService>;
  beforeAll(() => {
    admin = t.client(DirectoryService);
  });

  it("show their directories on the key record", async () => {
    const { key } = await admin.createApiKey({ name: "two tenants", scope: ApiKeyScope.READ, directoryIds: [b.id, a.id.toUpperCase(), a.id] });
    expect(key?.directoryIds).toEqual([a.id, b.id].sort());
    const listed = (await admin.listApiKeys({})).keys.find((k) => k.id === key!.id);
    expect(listed?.directoryIds).toEqual([a.id, b.id].sort());
    expect((await admin.listApiKeys({})).keys.find((k) => k.id === globalReadId)?.directoryIds).toEqual([]);
  });

  it("a key over two directories reaches both and nothing else", async () => {
    const c = await admin.createDirectory({ name: "tenant c", provider: ProviderKind.GENERIC });
    const { secret } = await admin.createApiKey({ name: "a and c", scope: ApiKeyScope.READ, directoryIds: [a.id, c.directory!.id] });
    const client = t.client(DirectoryService, secret);
    expect((await client.listDirectories({})).directories.map((d) => d.id).sort()).toEqual([a.id, c.directory!.id].sort());
    // Paged one by one, still only its own.
    const first = await client.listDirectories({ pageSize: 1 });
    const second = await client.listDirectories({ pageSize: 1, pageToken: first.nextPageToken });
    expect([...first.directories, ...second.directories].map((d) => d.id).sort()).toEqual([a.id, c.directory!.id].sort());
    expect(second.nextPageToken).toBe("");
    expect((await client.listUsers({ directoryId: c.directory!.id })).users).toEqual([]);
    expect((await failureOf(client.getDirectory({ id: b.id }))).code).toBe(Code.NotFound);
  });

  it("refuses directories that are malformed, unknown or too many", async () => {
    expect((await failureOf(admin.createApiKey({ name: "bad", scope: ApiKeyScope.READ, directoryIds: ["not-a-uuid"] }))).code).toBe(Code.InvalidArgument);
    const unknown = randomUUID();
    expect(await failureOf(admin.createApiKey({ name: "bad", scope: ApiKeyScope.READ, directoryIds: [a.id, unknown] }))).toEqual({
      code: Code.NotFound,
      message: `directory ${unknown} not found`,
    });
    const many = Array.from({ length: 101 }, () => randomUUID());
    expect((await failureOf(admin.createApiKey({ name: "bad", scope: ApiKeyScope.READ, directoryIds: many }))).code).toBe(Code.InvalidArgument);
    // As many as fit a request body.
    const flood = Array.from({ length: 20_000 }, () => a.id);
    expect((await failureOf(admin.createApiKey({ name: "bad", scope: ApiKeyScope.READ, directoryIds: flood }))).code).toBe(Code.InvalidArgument);
  });

  it("no secret reaches the logs", () => {
    const logs = t.logs.join("");
    for (const secret of [adminA, readA, globalRead, b.secret]) expect(logs).not.toContain(secret);
  });
});

describe("a suspended directory", () => {
  it("refuses every write RPC with failed_precondition, keeps reads, and takes writes again once reactivated", async () => {
    const s = await createScimDirectory(t, ProviderKind.OKTA, "tenant s");
    const admin = t.client(DirectoryService);
    const sUser = (await admin.createUser({ directoryId: s.id, resource: userResource("sue@s.example") })).user!.id;
    const sGroup = (await admin.createGroup({ directoryId: s.id, resource: { displayName: "s team" }, memberUserIds: [sUser] })).group!.id;
    await admin.updateDirectory({ id: s.id, state: DirectoryState.SUSPENDED });
    // A key limited to S meets the same refusal as the global admin key.
    const { secret: adminS } = await admin.createApiKey({ name: "tenant s admin", scope: ApiKeyScope.ADMIN, directoryIds: [s.id] });
    const before = await snapshotOf(s.id);

    const resource = { ...userResource("late@s.example"), displayName: "late" };
    const writes: Record<string, (c: Client<typeof DirectoryService>, m: Client<typeof MappingService>) => Promise<unknown>> = {
      CreateUser: (c) => c.createUser({ directoryId: s.id, resource }),
      ReplaceUser: (c) => c.replaceUser({ directoryId: s.id, id: sUser, resource }),
      PatchUser: (c) => c.patchUser({ directoryId: s.id, id: sUser, operations: [{ op: "replace", path: "displayName", value: { kind: { case: "stringValue", value: "late" } } }] }),
      DeactivateUser: (c) => c.deactivateUser({ directoryId: s.id, id: sUser }),
      ReactivateUser: (c) => c.reactivateUser({ directoryId: s.id, id: sUser }),
      DeleteUser: (c) => c.deleteUser({ directoryId: s.id, id: sUser }),
      CreateGroup: (c) => c.createGroup({ directoryId: s.id, resource: { displayName: "late" } }),
      UpdateGroup: (c) => c.updateGroup({ directoryId: s.id, id: sGroup, resource: { displayName: "renamed" } }),
      PatchGroup: (c) => c.patchGroup({ directoryId: s.id, id: sGroup, operations: [{ op: "replace", path: "displayName", value: { kind: { case: "stringValue", value: "renamed" } } }] }),
      DeleteGroup: (c) => c.deleteGroup({ directoryId: s.id, id: sGroup }),
      AddGroupMembers: (c) => c.addGroupMembers({ directoryId: s.id, groupId: sGroup, userIds: [sUser] }),
      RemoveGroupMembers: (c) => c.removeGroupMembers({ directoryId: s.id, groupId: sGroup, userIds: [sUser] }),
      ReplaceGroupMembers: (c) => c.replaceGroupMembers({ directoryId: s.id, groupId: sGroup, userIds: [] }),
      UpdateMapping: (_c, m) => m.updateMapping({ directoryId: s.id, roleRules: [] }),
      SetDeprovisioningPolicy: (c) => c.setDeprovisioningPolicy({ directoryId: s.id, policy: { mode: DeprovisioningMode.OFF, windowSeconds: 60 } }),
      DecideDeprovisioningHold: (c) => c.decideDeprovisioningHold({ directoryId: s.id, decision: HoldDecision.KEEP }),
    };
    // Every write RPC of the two services that name a directory is in the list above.
    const readOrTokens = /^(Get|List|Stream|Preview)|ScimToken/;
    for (const service of [DirectoryService, MappingService]) {
      for (const method of service.methods) {
        if (method.input.fields.some((f) => f.localName === "directoryId") && !readOrTokens.test(method.name)) expect(Object.keys(writes)).toContain(method.name);
      }
    }
    for (const key of [t.adminKey, adminS]) {
      const c = t.client(DirectoryService, key);
      const m = t.client(MappingService, key);
      for (const [name, write] of Object.entries(writes)) {
        const refused = await failureOf(write(c, m));
        expect(refused.code, name).toBe(Code.FailedPrecondition);
        expect(refused.message, name).toMatch(/suspended/);
      }
    }
    expect(await snapshotOf(s.id)).toEqual(before);

    // Reads and events still work; SCIM still refuses the directory's token.
    expect((await admin.getUser({ directoryId: s.id, id: sUser })).user?.id).toBe(sUser);
    expect((await t.client(MappingService).getMapping({ directoryId: s.id })).mapping?.directoryId).toBe(s.id);
    expect((await t.client(EventService).listSubjectEvents({ directoryId: s.id, subjectId: sUser })).events.length).toBeGreaterThan(0);
    expect((await s.scim("GET", "/Users")).status).toBe(401);
    // Tokens can be rotated while suspended.
    const rotated = await admin.createScimToken({ directoryId: s.id, name: "rotated" });
    await admin.revokeScimToken({ directoryId: s.id, id: s.tokenId });

    await admin.updateDirectory({ id: s.id, state: DirectoryState.ACTIVE });
    await t.client(DirectoryService, adminS).deactivateUser({ directoryId: s.id, id: sUser });
    expect((await admin.getUser({ directoryId: s.id, id: sUser })).user?.state).toBe(UserState.INACTIVE);
    const scim = await s.scim("GET", "/Users", undefined, { token: rotated.secret });
    expect(scim.status).toBe(200);
  });
});

describe("bootstrap", () => {
  it("issues a global admin key when only limited admin keys are left", async () => {
    const directories = t.roster.directories;
    expect(await directories.bootstrapAdminKey()).toBeUndefined();
    const admin = t.client(DirectoryService);
    for (const key of (await admin.listApiKeys({})).keys) {
      if (key.scope === ApiKeyScope.ADMIN && key.directoryIds.length === 0 && !key.revokeTime) await directories.revokeApiKey(key.id);
    }
    const issued = await directories.bootstrapAdminKey();
    expect(issued?.key.directoryIds).toEqual([]);
    expect((await t.client(DirectoryService, issued!.secret).createDirectory({ name: "after bootstrap", provider: ProviderKind.OKTA })).directory?.id).toBeTruthy();
  });
});

describe("the access guard", () => {
  it("refuses a method served without an access rule, and will not serve a service with one missing", async () => {
    const interceptors = [authInterceptor(t.roster.directories, randomUUID(), createLogger("silent"))];
    // A service no guard has seen (EventService's shape, its own descriptors), registered
    // straight on the router as a careless new service would be.
    const service = { ...EventService } as typeof EventService;
    const methods = EventService.methods.map((m) => ({ ...m, parent: service }));
    Object.assign(service, { methods, method: Object.fromEntries(methods.map((m) => [m.localName, m])) });
    const unguarded = createRouterTransport(
      (router) => {
        router.service(service, { listEvents: () => ({ events: [], nextCursor: "leaked" }) });
      },
      { router: { interceptors } },
    );
    const events = createClient(service, withBearer(unguarded, t.adminKey));
    const refused = await failureOf(events.listEvents({ directoryId: b.id }));
    expect(refused).toEqual({ code: Code.PermissionDenied, message: "ListEvents has no access rule" });

    const guard = accessGuard(t.roster.directories);
    const incomplete = { ...EVENT_ACCESS, streamEvents: undefined } as unknown as typeof EVENT_ACCESS;
    expect(() => guard(EventService, incomplete, {})).toThrow(/StreamEvents has no access rule/);
  });
});

function withBearer(transport: Transport, key: string): Transport {
  return {
    unary: (method, signal, timeoutMs, header, input, contextValues) =>
      transport.unary(method, signal, timeoutMs, { ...Object.fromEntries(new Headers(header)), authorization: `Bearer ${key}` }, input, contextValues),
    stream: (method, signal, timeoutMs, header, input, contextValues) =>
      transport.stream(method, signal, timeoutMs, { ...Object.fromEntries(new Headers(header)), authorization: `Bearer ${key}` }, input, contextValues),
  };
}
