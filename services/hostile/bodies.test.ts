// Hostile request bodies, each a case of what one client could do to every directory:
// nesting that overflowed the stack, text Postgres cannot hold, passwords in the audit log
// and in the server log, resources too deep for the readers, shapes no IdP sends.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create, fromBinary, toBinary, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import pg from "pg";
import { DirectoryService, ProviderKind, ScimAuditRecordSchema } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { MappingService } from "@roster/sdk/gen/roster/mapping/v1/mapping_pb.js";
import { EventSchema } from "@roster/sdk/gen/roster/events/v1/events_pb.js";
import { decodeLifecycleMessage } from "../../sdk/src/kafka.ts";
import { encodeEvent, eventToPb } from "../core/transport/event-codec.ts";
import { cloudEventHeaders, type StoredEvent } from "../event-log/index.ts";
import { MAX_JSON_DEPTH } from "../platform/json-limits.ts";
import { createLogger } from "../platform/logger.ts";
import { failureOf } from "../testing/connect.ts";
import { queryDatabase } from "../testing/database.ts";
import { startTestRoster, type TestRoster } from "../testing/roster.ts";
import { BULK_REQUEST, createScimDirectory, ENTERPRISE, GROUP_SCHEMA, patchOp, SEARCH_REQUEST, USER_SCHEMA, type ScimDirectory } from "../testing/scim.ts";
import { auditRecordOf, expectReady, SecretLedger, storedState } from "./input-harness.ts";

let t: TestRoster;
let okta: ScimDirectory;
let entra: ScimDirectory;
const ledger = new SecretLedger();

beforeAll(async () => {
  t = await startTestRoster({ ROSTER_SCIM_RATE_LIMIT: "0" });
  ledger.secret(t.adminKey);
  okta = await createScimDirectory(t, ProviderKind.OKTA);
  entra = await createScimDirectory(t, ProviderKind.ENTRA);
  ledger.secret(okta.secret);
  ledger.secret(entra.secret);
});

afterAll(async () => {
  await t?.stop();
});

let requestCounter = 0;
const requestId = () => `hostile-bodies-${++requestCounter}`;

/** A JSON text nesting `depth` arrays around `inner`. */
const nestedArrays = (depth: number, inner = "0") => `${"[".repeat(depth)}${inner}${"]".repeat(depth)}`;

/** An object nesting `depth` levels (the outer object counted): {"a":{"a":...{"a":1}}}. */
function nestedObject(depth: number): JsonObject {
  let value: JsonObject = { a: 1 };
  for (let i = 1; i < depth; i++) value = { a: value };
  return value;
}

async function newUser(dir: ScimDirectory, extra: Record<string, unknown> = {}): Promise<string> {
  const created = await dir.scim("POST", "/Users", { schemas: [USER_SCHEMA], userName: `u${++requestCounter}@example.com`, ...extra });
  expect(created.status, created.text).toBe(201);
  return created.body.id as string;
}

/** The next call is still audited: the audit log did not stop. */
async function expectAuditStillRecords(dir: ScimDirectory): Promise<void> {
  const id = requestId();
  expect((await dir.scim("GET", "/Users?count=1", undefined, { headers: { "x-request-id": id } })).status).toBe(200);
  expect((await auditRecordOf(t, dir.id, id)).status).toBe(200);
}

describe("1. nesting a recursive walk would overflow", () => {
  it("refuses a deeply nested PATCH, POST, PUT and Bulk body with 400 invalidSyntax, and keeps serving every directory", async () => {
    const id = await newUser(okta);
    const before = await storedState(t, okta.id);
    const deep = nestedArrays(5_000);
    const bodies: Array<[string, string, string]> = [
      ["PATCH", `/Users/${id}`, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[],"x":${deep}}`],
      ["POST", "/Users", `{"userName":"deep@example.com","x":${deep}}`],
      ["PUT", `/Users/${id}`, `{"userName":"deep@example.com","x":${deep}}`],
      ["POST", "/Bulk", `{"schemas":["${BULK_REQUEST}"],"Operations":[{"method":"POST","bulkId":"a","path":"/Users","data":{"userName":"b@example.com","x":${deep}}}]}`],
      ["POST", "/Groups", `{"displayName":"deep","x":${nestedArrays(200_000)}}`],
    ];
    for (const [method, path, raw] of bodies) {
      const rid = requestId();
      const answer = await okta.scim(method, path, undefined, { raw, headers: { "x-request-id": rid } });
      expect(answer.status, `${method} ${path}`).toBe(400);
      expect(answer.body.scimType).toBe("invalidSyntax");
      expect(answer.body.detail).toContain(`${MAX_JSON_DEPTH} levels`);
      // Audited, without the body nothing accepted.
      expect((await auditRecordOf(t, okta.id, rid)).status).toBe(400);
    }
    await expectReady(t);
    expect(await storedState(t, okta.id)).toEqual(before);
    await expectAuditStillRecords(entra);
  });

  it("refuses a deeply nested RPC resource with invalid_argument", async () => {
    const client = t.client(DirectoryService);
    const failure = await failureOf(client.createUser({ directoryId: okta.id, resource: { userName: "rpc-deep@example.com", x: nestedObject(40) } }));
    expect(failure.code).toBe(Code.InvalidArgument);
    expect(failure.message).toContain(`${MAX_JSON_DEPTH} levels`);
    // Deeper than protobuf itself decodes: refused before it reaches the service.
    const raw = await fetch(`${t.url}/roster.directory.v1.DirectoryService/CreateUser`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${t.adminKey}` },
      body: `{"directoryId":"${okta.id}","resource":{"userName":"rpc-deeper@example.com","x":${nestedArrays(5_000)}}}`,
    });
    expect(raw.status).toBe(400);
    await expectReady(t);
  });
});

describe("2. text Postgres cannot store", () => {
  it("refuses U+0000 in a userName and in a PATCHed password, and the audit log keeps recording every directory", async () => {
    const rid = requestId();
    const nul = await okta.scim("POST", "/Users", { userName: "x\u0000@b.com" }, { headers: { "x-request-id": rid } });
    expect(nul.status).toBe(400);
    expect(nul.body.scimType).toBe("invalidValue");
    expect((await auditRecordOf(t, okta.id, rid)).status).toBe(400);

    const id = await newUser(okta);
    const password = ledger.secret("pw\u0000-nul-password");
    const patched = await okta.scim("PATCH", `/Users/${id}`, patchOp({ op: "replace", path: "password", value: password }));
    expect(patched.status).toBe(400);
    expect(patched.body.scimType).toBe("invalidValue");
    await expectAuditStillRecords(okta);
    await expectAuditStillRecords(entra);
    expect(t.logs.join("")).not.toContain("could not store SCIM audit records");
  });

  it("stores a record another facade sent with such text, made storable, and the rest of a batch when the database refuses one record", async () => {
    const admin = t.client(DirectoryService);
    const record = (id: string, at: Date, path: string, body?: JsonObject) =>
      create(ScimAuditRecordSchema, { id, directoryId: okta.id, requestId: `remote-${id.slice(-4)}`, method: "POST", path, status: 400, time: timestampFromDate(at), requestBody: body });
    const ids = ["0190a000-0000-7000-8000-00000000a001", "0190a000-0000-7000-8000-00000000a002", "0190a000-0000-7000-8000-00000000a003"];
    const password = ledger.password();
    await admin.appendScimAuditRecords({
      records: [
        record(ids[0]!, new Date(), "/Users/\u0000", { userName: "a\u0000b", "k\ud800": "\udc00", password }),
        // Before Postgres' first timestamp: the database refuses this record alone.
        record(ids[1]!, new Date(Date.UTC(-100_000, 0, 1)), "/Users"),
        record(ids[2]!, new Date(), "/Groups"),
      ],
    });
    const rows = await queryDatabase<{ id: string; path: string; request_body: Record<string, unknown> }>(
      t.database.url,
      `SELECT id, path, request_body FROM scim_audit WHERE id = ANY($1::uuid[]) ORDER BY id`,
      [ids],
    );
    expect(rows.map((r) => r.id)).toEqual([ids[0], ids[2]]);
    expect(rows[0]!.path).toBe("/Users/\uFFFD");
    expect(rows[0]!.request_body).toEqual({ userName: "a\uFFFDb", "k\uFFFD": "\uFFFD", password: "[redacted]" });
    const dropped = t.logs.filter((l) => l.includes("SCIM audit records refused by the database were dropped"));
    expect(dropped).toHaveLength(1);
    expect(JSON.parse(dropped[0]!).dropped).toBe(1);
  });
});

describe("3. passwords in the audit log", () => {
  it("redacts passwords by SCIM meaning: PATCH paths in any case or URN form, path-less values, Bulk data, filters in bodies and query strings", async () => {
    const id = await newUser(okta);
    const pw = Array.from({ length: 12 }, () => ledger.password());
    const calls: Array<[string, string, unknown]> = [
      ["PATCH", `/Users/${id}`, patchOp({ op: "replace", path: "password", value: pw[0] })],
      ["PATCH", `/Users/${id}`, patchOp({ op: "Replace", path: "Password", value: pw[1] })],
      ["PATCH", `/Users/${id}`, patchOp({ op: "replace", path: `${USER_SCHEMA}:password`, value: pw[2] })],
      ["PATCH", `/Users/${id}`, patchOp({ op: "replace", value: { [`${USER_SCHEMA}:password`]: pw[3], PASSWORD: pw[4] } })],
      // A refused one: the error detail quotes the value.
      ["PATCH", `/Users/${id}`, patchOp({ op: "replace", path: "password", value: { nested: pw[5] } })],
      [
        "POST",
        "/Bulk",
        {
          schemas: [BULK_REQUEST],
          Operations: [
            { method: "POST", bulkId: "n", path: "/Users", data: { userName: "bulk-pw@example.com", password: pw[6] } },
            { method: "PATCH", path: `/Users/${id}`, data: patchOp({ op: "replace", path: "password", value: pw[7] }) },
          ],
        },
      ],
      ["POST", "/Users/.search", { schemas: [SEARCH_REQUEST], filter: `password eq "${pw[8]}"` }],
      ["GET", `/Users?filter=${encodeURIComponent(`password eq "${pw[9]}"`)}`, undefined],
      ["GET", `/Users?filter=${encodeURIComponent(`userName eq "x" or password eq ${pw[10]}`)}`, undefined],
      ["GET", `/Users?count=1&password=${encodeURIComponent(pw[11]!)}`, undefined],
    ];
    const rids: string[] = [];
    for (const [method, path, body] of calls) {
      const rid = requestId();
      rids.push(rid);
      await okta.scim(method, path, body, { headers: { "x-request-id": rid } });
    }
    const records = [];
    for (const rid of rids) records.push(await auditRecordOf(t, okta.id, rid));
    const text = JSON.stringify(records);
    for (const secret of pw) expect(text).not.toContain(secret);
    expect(text).toContain("[redacted]");
    // What is not secret is kept for investigation.
    expect(records[0]!.request_body).toMatchObject({ Operations: [{ op: "replace", path: "password", value: "[redacted]" }] });
    expect(records[9]!.path).toBe("/Users?count=1&password=%5Bredacted%5D");
  });
});

describe("4. user data in the server log", () => {
  it("logs a database error's SQLSTATE and names, never its values (detail, where, hint, quoted text)", async () => {
    const password = ledger.password();
    const client = new pg.Client({ connectionString: t.database.url });
    await client.connect();
    const errors: unknown[] = [];
    try {
      // What the audit log met: jsonb cannot hold \u0000, and Postgres quotes the JSON around it.
      await client.query(`SELECT $1::jsonb`, [`{"op":"replace","path":"password","value":"${password}\\u0000"}`]).catch((e: unknown) => errors.push(e));
      await client.query(`SELECT $1::uuid`, [password]).catch((e: unknown) => errors.push(e));
      await client.query(`CREATE TEMP TABLE u (name text UNIQUE); INSERT INTO u VALUES ('${password}'); INSERT INTO u VALUES ('${password}')`).catch((e: unknown) => errors.push(e));
    } finally {
      await client.end();
    }
    // Through MikroORM too, which copies the detail into the message.
    await t.roster.orm.em.getConnection().execute(`SELECT ?::jsonb`, [`{"password":"${password}\\u0000"}`]).catch((e: unknown) => errors.push(e));
    expect(errors).toHaveLength(4);
    expect(JSON.stringify(errors.map((e) => ({ ...(e as object), message: (e as Error).message })))).toContain(password);
    const lines: string[] = [];
    const logger = createLogger("info", { write: (line: string) => void lines.push(line) });
    for (const error of errors) logger.error({ err: error }, "unexpected error in RPC");
    for (const error of errors) logger.warn({ err: new Error("wrapped", { cause: error }) }, "wrapped");
    const text = lines.join("");
    expect(text).not.toContain(password);
    expect(text).not.toContain("JSON data, line 1");
    const logged = lines.map((l) => JSON.parse(l).err);
    expect(logged.slice(0, 4).map((e: { sqlState: string }) => e.sqlState)).toEqual(["22P05", "22P02", "23505", "22P05"]);
    expect(logged[2].constraint).toBe("u_name_key");
    expect(logged[0].stack).toMatch(/\n\s+at /);
  });
});

describe("5. U+0000 and lone surrogates", () => {
  it("answers 400 invalidValue for them in userName, keys, title and group displayName, and writes nothing", async () => {
    const userId = await newUser(okta);
    const groupId = (await okta.scim("POST", "/Groups", { schemas: [GROUP_SCHEMA], displayName: "text group" })).body.id as string;
    const before = await storedState(t, okta.id);
    const cases: Array<[string, string, unknown]> = [
      ["POST", "/Users", { userName: "x\u0000@b.com" }],
      ["POST", "/Users", { userName: "x\ud800@b.com" }],
      ["POST", "/Users", { userName: "key@b.com", "bad\u0000key": 1 }],
      ["POST", "/Users", { userName: "key@b.com", "bad\udfffkey": 1 }],
      ["PUT", `/Users/${userId}`, { userName: "t@b.com", title: "boss\u0000" }],
      ["PATCH", `/Users/${userId}`, patchOp({ op: "replace", path: "title", value: "\ud83d" })],
      ["POST", "/Groups", { displayName: "g\u0000" }],
      ["PATCH", `/Groups/${groupId}`, patchOp({ op: "replace", path: "displayName", value: "\udc00g" })],
      ["PUT", `/Groups/${groupId}`, { displayName: "\ud800" }],
      ["GET", `/Users?filter=${encodeURIComponent('userName eq "\u0000"')}`, undefined],
      ["POST", "/Users/.search", { schemas: [SEARCH_REQUEST], filter: 'userName eq "\ud800"' }],
      // The filter's own escapes spell the same characters.
      ["GET", `/Users?filter=${encodeURIComponent('userName eq "a\\u0000"')}`, undefined],
      ["POST", "/Users/.search", { schemas: [SEARCH_REQUEST], filter: 'title eq "\\udc00"' }],
    ];
    for (const [method, path, body] of cases) {
      const answer = await okta.scim(method, path, body);
      expect(answer.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(400);
      expect(answer.body.scimType).toBe("invalidValue");
    }
    expect(await storedState(t, okta.id)).toEqual(before);
    await expectAuditStillRecords(okta);
  });

  it("answers invalid_argument for them in RPCs", async () => {
    const client = t.client(DirectoryService);
    const calls: Array<[string, () => Promise<unknown>]> = [
      ["CreateUser NUL", () => client.createUser({ directoryId: okta.id, resource: { userName: "rpc\u0000@b.com" } })],
      ["CreateDirectory NUL", () => client.createDirectory({ name: "bad\u0000name", provider: ProviderKind.OKTA })],
      ["ListUsers NUL filter", () => client.listUsers({ directoryId: okta.id, options: { filter: 'userName eq "\u0000"' } })],
    ];
    for (const [what, call] of calls) expect(await failureOf(call()).then((f) => f.code, () => "succeeded"), what).toBe(Code.InvalidArgument);
    // A binary client cannot even encode a lone surrogate (it sends U+FFFD); JSON can.
    const rpcJson = (method: string, body: string) =>
      fetch(`${t.url}/roster.directory.v1.DirectoryService/${method}`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${t.adminKey}` },
        body,
      });
    expect((await rpcJson("CreateUser", `{"directoryId":"${okta.id}","resource":{"userName":"rpc-json@b.com"}}`)).status).toBe(200);
    for (const [method, body] of [
      ["CreateUser", `{"directoryId":"${okta.id}","resource":{"userName":"rpc\\ud800@b.com"}}`],
      ["CreateUser", `{"directoryId":"${okta.id}","resource":{"userName":"rpc@b.com","k\\udc00":1}}`],
      ["CreateApiKey", `{"name":"bad\\udc00","scope":"API_KEY_SCOPE_READ"}`],
    ] as const) {
      const answer = await rpcJson(method, body);
      expect(answer.status, body).toBe(400);
      expect(((await answer.json()) as { code: string }).code).toBe("invalid_argument");
    }
    await expectReady(t);
  });
});

describe("6. resources deeper than their readers accept", () => {
  it("refuses a custom attribute nested 150 levels with 400, and stores nothing", async () => {
    const before = await storedState(t, okta.id);
    const answer = await okta.scim("POST", "/Users", { userName: "deep150@example.com", custom: nestedObject(150) });
    expect(answer.status).toBe(400);
    expect(answer.body.scimType).toBe("invalidSyntax");
    expect(await storedState(t, okta.id)).toEqual(before);
  });

  it("keeps a resource at the limit readable by Connect, gRPC, ListUsers, GetCanonicalUser and the Kafka decoder", async () => {
    // The body is the resource: its custom attribute leaves it exactly MAX_JSON_DEPTH deep.
    const id = await newUser(okta, { custom: nestedObject(MAX_JSON_DEPTH - 1) });
    const grpc = createGrpcTransport({
      baseUrl: t.url,
      interceptors: [(next) => (req) => (req.header.set("authorization", `Bearer ${t.adminKey}`), next(req))],
    });
    const binary = createConnectTransport({
      baseUrl: t.url,
      httpVersion: "1.1",
      useBinaryFormat: true,
      interceptors: [(next) => (req) => (req.header.set("authorization", `Bearer ${t.adminKey}`), next(req))],
    });
    for (const client of [t.client(DirectoryService), t.client(DirectoryService, t.adminKey, grpc), t.client(DirectoryService, t.adminKey, binary)]) {
      expect((await client.getUser({ directoryId: okta.id, id })).user?.resource?.custom).toEqual(nestedObject(MAX_JSON_DEPTH - 1));
      expect((await client.listUsers({ directoryId: okta.id, options: { pageSize: 1000 } })).users.some((u) => u.id === id)).toBe(true);
    }
    for (const mapping of [t.client(MappingService), t.client(MappingService, t.adminKey, grpc)]) {
      expect((await mapping.getCanonicalUser({ directoryId: okta.id, userId: id })).user?.id).toBe(id);
    }
    const [row] = await queryDatabase<{ seq: string; id: string; directory_id: string; subject_type: "user"; subject_id: string; sequence: string; type: string; payload: Record<string, unknown>; occurred_at: Date; event: Buffer | null }>(
      t.database.url,
      `SELECT * FROM outbox_events WHERE subject_id = $1 ORDER BY sequence LIMIT 1`,
      [id],
    );
    const stored: StoredEvent = {
      seq: BigInt(row!.seq),
      id: row!.id,
      directoryId: row!.directory_id,
      subjectType: row!.subject_type,
      subjectId: row!.subject_id,
      sequence: BigInt(row!.sequence),
      type: row!.type,
      payload: row!.payload,
      occurredAt: row!.occurred_at,
      position: 1n,
      event: row!.event,
    };
    const value = Buffer.from(encodeEvent(eventToPb(stored)));
    const decoded = decodeLifecycleMessage({ key: Buffer.from(id), value, headers: cloudEventHeaders(stored) });
    expect(decoded.event.id).toBe(row!.id);
    expect(fromBinary(EventSchema, toBinary(EventSchema, decoded.event)).id).toBe(row!.id);
  });

  it("refuses one level more, over SCIM and over RPC", async () => {
    const answer = await okta.scim("POST", "/Users", { userName: "deep33@example.com", custom: nestedObject(MAX_JSON_DEPTH) });
    expect(answer.status).toBe(400);
    const failure = await failureOf(t.client(DirectoryService).createUser({ directoryId: okta.id, resource: { userName: "deep33@example.com", custom: nestedObject(MAX_JSON_DEPTH) } }));
    expect(failure.code).toBe(Code.InvalidArgument);
  });
});

describe("13. attribute shapes", () => {
  it("refuses shapes no IdP sends with 400 invalidValue, in lenient and strict directories", async () => {
    const strict = await createScimDirectory(t, ProviderKind.GENERIC);
    await t.client(DirectoryService).updateDirectory({ id: strict.id, strict: true });
    ledger.secret(strict.secret);
    for (const dir of [okta, entra, strict]) {
      const userId = await newUser(dir);
      const before = await storedState(t, dir.id);
      const shapes: Array<Record<string, unknown>> = [
        { emails: "x@example.com" },
        { emails: { value: "x@example.com" } },
        { emails: [null] },
        { emails: ["x@example.com"] },
        { emails: [{ value: 42 }] },
        { name: "Alice" },
        { name: { givenName: ["Alice"] } },
        { title: 7 },
        { active: "maybe" },
        { [ENTERPRISE]: "Sales" },
        { [ENTERPRISE]: { department: { name: "Sales" } } },
        { [ENTERPRISE]: { manager: ["boss"] } },
      ];
      for (const shape of shapes) {
        const posted = await dir.scim("POST", "/Users", { userName: `shape${++requestCounter}@example.com`, ...shape });
        expect(posted.status, JSON.stringify(shape)).toBe(400);
        expect(posted.body.scimType).toBe("invalidValue");
        const put = await dir.scim("PUT", `/Users/${userId}`, { userName: `shape${++requestCounter}@example.com`, ...shape });
        expect(put.status, JSON.stringify(shape)).toBe(400);
      }
      expect(await storedState(t, dir.id)).toEqual(before);
    }
  });

  it("keeps the documented Entra leniencies: string booleans, a bare manager id, null for unassigned, unknown attributes", async () => {
    const created = await entra.scim("POST", "/Users", {
      schemas: [USER_SCHEMA, ENTERPRISE],
      userName: "lenient@example.com",
      active: "True",
      emails: [{ value: "lenient@example.com", type: "work", primary: "true" }],
      name: null,
      [ENTERPRISE]: { manager: "boss-id", department: "Sales" },
      customThing: ["anything", { goes: 1 }],
    });
    expect(created.status, created.text).toBe(201);
    expect(created.body.active).toBe(true);
    expect(created.body.emails).toEqual([{ value: "lenient@example.com", type: "work", primary: true }]);
  });
});

describe("the log and the audit log", () => {
  it("hold no password, token or key sent by this file", async () => {
    await ledger.scan(t, [okta.id, entra.id]);
  });
});
