// The core's own user events carry the canonical user, through the real server: SCIM over
// HTTP writes, the outbox rows read back and decoded by the codec the relay and EventService
// publish with, compared with GetCanonicalUser at the same user version.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JsonObject } from "@bufbuild/protobuf";
import { DirectoryService, ProviderKind, UserState } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import type { Event } from "@roster/sdk/gen/roster/events/v1/events_pb.js";
import { CanonicalField, RemapJobState, type CanonicalUser, type MappingRule } from "@roster/sdk/gen/roster/mapping/v1/mapping_pb.js";
import { OUTBOX_COLUMNS, toStoredEvent, type EventRow } from "../../event-log/index.ts";
import { eventToPb } from "../../core/transport/event-codec.ts";
import { queryDatabase } from "../../testing/database.ts";
import type { TestRoster } from "../../testing/roster.ts";
import { createScimDirectory, ENTERPRISE, GROUP_SCHEMA, PATCH_OP, USER_SCHEMA, type ScimDirectory } from "../../testing/scim.ts";
import { ADA, ENTRA, OKTA } from "../domain/testdata/payloads.ts";
import { serveMapping, type MappingServer } from "./testing.ts";

let t: TestRoster;
let m: MappingServer;

beforeAll(async () => {
  m = await serveMapping();
  t = m.t;
});

afterAll(async () => {
  await m?.stop();
});

/** A user's events as published: outbox rows through the relay's and EventService's codec. */
async function eventsOf(userId: string): Promise<Event[]> {
  const rows = await queryDatabase<EventRow>(t.database.url, `SELECT ${OUTBOX_COLUMNS}, NULL AS position FROM outbox_events o WHERE o.subject_id = $1 ORDER BY o.sequence`, [userId]);
  return rows.map((r) => eventToPb(toStoredEvent(r)));
}

function canonicalOf(event: Event): CanonicalUser {
  const canonical = (event.payload.value as { canonical?: CanonicalUser } | undefined)?.canonical;
  if (!canonical) throw new Error(`${event.type} (sequence ${event.sequence}) carries no canonical user`);
  return canonical;
}

async function rpcCanonical(directoryId: string, userId: string): Promise<CanonicalUser> {
  const { user } = await m.client.getCanonicalUser({ directoryId, userId });
  return user!;
}

/** Events leave `raw` out (the User snapshot carries the resource); everything else agrees. */
const withoutRaw = (c: CanonicalUser) => ({ ...c, raw: undefined });

/** The user's latest event carries exactly what GetCanonicalUser answers now. */
async function expectLatestMatchesRpc(directoryId: string, userId: string, type: string): Promise<CanonicalUser> {
  const latest = (await eventsOf(userId)).at(-1)!;
  expect(latest.type).toBe(type);
  const canonical = canonicalOf(latest);
  expect(canonical.version).toBe(latest.sequence);
  expect(withoutRaw(canonical)).toEqual(withoutRaw(await rpcCanonical(directoryId, userId)));
  return canonical;
}

const documentedAda = {
  username: ADA.username,
  emails: ADA.emails,
  givenName: ADA.givenName,
  familyName: ADA.familyName,
  displayName: ADA.displayName,
  state: UserState.ACTIVE,
  jobTitle: ADA.jobTitle,
  department: ADA.department,
  employeeNumber: ADA.employeeNumber,
  managerId: ADA.managerId,
  groupIds: [],
  roles: [],
};

describe("user.created", () => {
  // Each IdP's style of payload, into directories of the same provider setup (Entra's preset:
  // work email first), and Okta's payload into an Okta directory.
  const cases: Array<[string, ProviderKind, Record<string, unknown>]> = [
    ["an Okta-style payload in an Entra directory", ProviderKind.ENTRA, OKTA],
    ["an Entra-style payload in an Entra directory", ProviderKind.ENTRA, ENTRA],
    ["an Okta-style payload in an Okta directory", ProviderKind.OKTA, OKTA],
  ];
  for (const [name, provider, payload] of cases) {
    it(`${name}: the event carries the documented canonical user, the one GetCanonicalUser answers`, async () => {
      const dir = await createScimDirectory(t, provider);
      const res = await dir.scim("POST", "/Users", payload);
      expect(res.status, res.text).toBe(201);
      const id = res.body.id as string;
      const [created] = await eventsOf(id);
      expect(created!.payload.case).toBe("userCreated");
      const canonical = canonicalOf(created!);
      expect(canonical).toMatchObject({ id, directoryId: dir.id, externalId: payload.externalId, version: 1n, ...documentedAda });
      expect(withoutRaw(canonical)).toEqual(withoutRaw(await rpcCanonical(dir.id, id)));
      // The raw resource stays available: in the event's User, and from GetCanonicalUser.
      expect(created!.payload.case === "userCreated" && created!.payload.value.user?.resource?.userName).toBe(payload.userName);
      expect((await rpcCanonical(dir.id, id)).raw?.userName).toBe(payload.userName);
    });
  }
});

describe("every user event", () => {
  let dir: ScimDirectory;
  beforeAll(async () => {
    dir = await createScimDirectory(t, ProviderKind.OKTA);
  });

  it("carries the user's canonical form as of that event, through the whole lifecycle", async () => {
    const body = { ...OKTA, userName: "grace@example.com", externalId: "okta-grace", emails: [{ primary: true, value: "grace@example.com", type: "work" }] };
    const id = (await dir.scim("POST", "/Users", body)).body.id as string;
    await expectLatestMatchesRpc(dir.id, id, "user.created");

    expect((await dir.scim("PUT", `/Users/${id}`, { ...body, title: "Rear Admiral" })).status).toBe(200);
    expect((await expectLatestMatchesRpc(dir.id, id, "user.updated")).jobTitle).toBe("Rear Admiral");

    const deactivate = { schemas: [PATCH_OP], Operations: [{ op: "replace", value: { active: false } }] };
    expect((await dir.scim("PATCH", `/Users/${id}`, deactivate)).status).toBe(200);
    expect((await expectLatestMatchesRpc(dir.id, id, "user.deactivated")).state).toBe(UserState.INACTIVE);
    const reactivate = { schemas: [PATCH_OP], Operations: [{ op: "replace", value: { active: true } }] };
    expect((await dir.scim("PATCH", `/Users/${id}`, reactivate)).status).toBe(200);
    expect((await expectLatestMatchesRpc(dir.id, id, "user.reactivated")).state).toBe(UserState.ACTIVE);

    const navy = (await dir.scim("POST", "/Groups", { schemas: [GROUP_SCHEMA], displayName: "Navy", members: [{ value: id }] })).body.id as string;
    expect((await expectLatestMatchesRpc(dir.id, id, "user.added_to_group")).groupIds).toEqual([navy]);
    const cobol = (await dir.scim("POST", "/Groups", { schemas: [GROUP_SCHEMA], displayName: "COBOL" })).body.id as string;
    const add = { schemas: [PATCH_OP], Operations: [{ op: "add", path: "members", value: [{ value: id }] }] };
    expect((await dir.scim("PATCH", `/Groups/${cobol}`, add)).status).toBeLessThan(300);
    expect([...(await expectLatestMatchesRpc(dir.id, id, "user.added_to_group")).groupIds].sort()).toEqual([navy, cobol].sort());
    const remove = { schemas: [PATCH_OP], Operations: [{ op: "remove", path: `members[value eq "${id}"]` }] };
    expect((await dir.scim("PATCH", `/Groups/${navy}`, remove)).status).toBeLessThan(300);
    expect((await expectLatestMatchesRpc(dir.id, id, "user.removed_from_group")).groupIds).toEqual([cobol]);

    expect((await dir.scim("DELETE", `/Users/${id}`)).status).toBe(204);
    const events = await eventsOf(id);
    const [leftCobol, deleted] = events.slice(-2);
    expect(leftCobol!.type).toBe("user.removed_from_group");
    expect(canonicalOf(leftCobol!)).toMatchObject({ version: leftCobol!.sequence, groupIds: [], state: UserState.ACTIVE });
    expect(deleted!.type).toBe("user.deleted");
    expect(canonicalOf(deleted!)).toMatchObject({ id, version: deleted!.sequence, state: UserState.DELETED, groupIds: [], username: "grace@example.com" });
    // Every event of the user has one, numbered like the event.
    for (const e of events) expect(canonicalOf(e).version).toBe(e.sequence);
  });
});

describe("after a mapping change", () => {
  const lowerDepartment = {
    sourcePath: `${ENTERPRISE}:department`,
    target: { case: "field", value: CanonicalField.DEPARTMENT },
    transforms: [{ kind: { case: "lowerCase", value: true } }],
  } as unknown as MappingRule;

  it("later user.updated and user.created events carry the new canonical form", async () => {
    const dir = await createScimDirectory(t, ProviderKind.OKTA);
    const body = (n: number) => ({ ...OKTA, userName: `user${n}@example.com`, externalId: `ext-${n}`, emails: [{ primary: true, value: `user${n}@example.com`, type: "work" }] });
    const id = (await dir.scim("POST", "/Users", body(1))).body.id as string;
    // A second create, so this process has the directory's rules in memory (the fast path).
    const before = (await dir.scim("POST", "/Users", body(2))).body.id as string;
    expect(canonicalOf((await eventsOf(before))[0]!).department).toBe("Analytical Engines");

    const { job } = await m.client.updateMapping({ directoryId: dir.id, overrides: [lowerDepartment], expectedVersion: 0n });
    for (let i = 0; i < 400; i++) {
      const { job: now } = await m.client.getRemapJob({ directoryId: dir.id, id: job!.id });
      if (now!.state !== RemapJobState.RUNNING) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    // The remap announced the new form...
    expect(canonicalOf((await eventsOf(id)).at(-1)!).department).toBe("analytical engines");

    // ...and the core's next events for the user carry it too.
    expect((await dir.scim("PUT", `/Users/${id}`, { ...body(1), title: "Countess" })).status).toBe(200);
    const updated = await expectLatestMatchesRpc(dir.id, id, "user.updated");
    expect(updated).toMatchObject({ department: "analytical engines", jobTitle: "Countess" });
    const [row] = await queryDatabase<{ payload: { mappingVersion: number } }>(
      t.database.url,
      "SELECT payload FROM outbox_events WHERE subject_id = $1 ORDER BY sequence DESC LIMIT 1",
      [id],
    );
    expect(row!.payload.mappingVersion).toBe(1);

    // A create after the change: the rules cached in memory are stale, so the write refuses
    // them and derives the user under the new ones.
    const after = (await dir.scim("POST", "/Users", body(3))).body.id as string;
    const created = await expectLatestMatchesRpc(dir.id, after, "user.created");
    expect(created.department).toBe("analytical engines");
  });
});

describe("events written before canonical users", () => {
  it("still decode, without one", async () => {
    // A row from before canonical users (and before the outbox stored Event messages).
    const { directory } = await t.client(DirectoryService).createDirectory({ name: "legacy", provider: ProviderKind.GENERIC });
    const { user } = await t.client(DirectoryService).createUser({ directoryId: directory!.id, resource: { schemas: [USER_SCHEMA], userName: "old@example.com" } as JsonObject });
    await queryDatabase(t.database.url, "UPDATE outbox_events SET payload = payload - 'canonical' - 'mappingVersion', event = NULL WHERE subject_id = $1", [user!.id]);
    const [event] = await eventsOf(user!.id);
    expect(event!.payload.case).toBe("userCreated");
    expect((event!.payload.value as { canonical?: CanonicalUser }).canonical).toBeUndefined();
  });
});
