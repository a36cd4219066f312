// Hostile protocol cases against a real Roster (real HTTP/1.1 and HTTP/2, real Postgres):
// malformed paths, numbers and protobuf bodies answer 4xx, never 500; errors never echo
// unbounded input; cursors skip nobody; URLs in responses never come from the Host header;
// filters over attributes Roster serves match or are refused, never silently empty; PATCH
// respects read-only attributes in every mode; the schema advertises only what works.
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { DirectoryService, ProviderKind } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { failureOf } from "../testing/connect.ts";
import { startTestRoster, type TestRoster } from "../testing/roster.ts";
import { createScimDirectory, ERROR_SCHEMA, GROUP_SCHEMA, patchOp, USER_SCHEMA, type ScimDirectory, type ScimResult } from "../testing/scim.ts";

const PUBLIC_URL = "https://roster.example.test";

let t: TestRoster;
let okta: ScimDirectory;
let entra: ScimDirectory;
let strict: ScimDirectory;
const userIds: string[] = [];
let groupId: string;

function expectScimError(res: ScimResult, status: number, scimType?: string): void {
  expect(res.status, `${status} expected, got ${res.status}: ${res.text.slice(0, 300)}`).toBe(status);
  expect(res.body).toMatchObject({ schemas: [ERROR_SCHEMA], status: String(status), ...(scimType ? { scimType } : {}) });
}

const withKey = (key: string) => [
  (next: (req: { header: Headers }) => unknown) => (req: { header: Headers }) => {
    req.header.set("authorization", `Bearer ${key}`);
    return next(req);
  },
];

beforeAll(async () => {
  t = await startTestRoster({ ROSTER_PUBLIC_URL: PUBLIC_URL });
  okta = await createScimDirectory(t, ProviderKind.OKTA);
  entra = await createScimDirectory(t, ProviderKind.ENTRA);
  const admin = t.client(DirectoryService);
  const { directory } = await admin.createDirectory({ name: "strict one", provider: ProviderKind.GENERIC, strict: true });
  const { secret, token } = await admin.createScimToken({ directoryId: directory!.id, name: "idp" });
  strict = { id: directory!.id, secret, tokenId: token!.id, scim: (m, p, b, o) => okta.scim(m, p, b, { ...o, token: secret }) };
  for (let i = 0; i < 7; i++) {
    const res = await okta.scim("POST", "/Users", { schemas: [USER_SCHEMA], userName: `user${i}@example.com`, displayName: `User ${i}` });
    expect(res.status).toBe(201);
    userIds.push(res.body.id as string);
  }
  const group = await okta.scim("POST", "/Groups", { schemas: [GROUP_SCHEMA], displayName: "Engineering", members: [{ value: userIds[0] }, { value: userIds[1] }] });
  expect(group.status).toBe(201);
  groupId = group.body.id as string;
});

afterAll(async () => {
  await t?.stop();
});

describe("malformed input answers 4xx, not 500", () => {
  it("refuses malformed percent-encoding in the path", async () => {
    for (const path of ["/Users/%ZZ", "/Groups/%E0%A4%A", "/Schemas/%", "/%ZZ"]) expectScimError(await okta.scim("GET", path), 400);
  });

  it("refuses a startIndex beyond what it can page to, and still pages at the largest one", async () => {
    expectScimError(await okta.scim("GET", "/Users?startIndex=99999999999999999999"), 400, "invalidValue");
    expectScimError(await okta.scim("GET", "/Users?startIndex=2147483648"), 400, "invalidValue");
    const far = await okta.scim("GET", "/Users?startIndex=2147483647");
    expect(far.status).toBe(200);
    expect(far.body).toMatchObject({ totalResults: 7, Resources: [] });
  });

  it("answers invalid_argument to a malformed binary protobuf over Connect and gRPC", async () => {
    // A field 1 (string) claiming 100 bytes, followed by 3.
    const truncated = Buffer.from([0x0a, 0x64, 0x61, 0x62, 0x63]);
    const res = await fetch(`${t.url}/roster.directory.v1.DirectoryService/GetDirectory`, {
      method: "POST",
      headers: { "content-type": "application/proto", authorization: `Bearer ${t.adminKey}` },
      body: truncated,
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { code: string; message: string };
    expect(body.code).toBe("invalid_argument");

    // The same bytes in a gRPC frame over HTTP/2, unary and server-streaming.
    for (const path of ["/roster.directory.v1.DirectoryService/GetDirectory", "/roster.events.v1.EventService/StreamEvents"]) {
      const grpc = await grpcRaw(t.url, path, truncated, t.adminKey);
      expect(grpc.status, path).toBe(String(Code.InvalidArgument));
    }

    // gRPC-web over HTTP/1.1: the status is in the body's trailer frame.
    const web = await fetch(`${t.url}/roster.directory.v1.DirectoryService/GetDirectory`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto", authorization: `Bearer ${t.adminKey}` },
      body: frame(0, truncated),
    });
    const webBody = Buffer.from(await web.arrayBuffer());
    expect(webBody[0]).toBe(0x80);
    expect(webBody.subarray(5).toString("utf8")).toMatch(/grpc-status: 3\r\n/);

    // A Connect server stream: the error is in the end-of-stream message.
    const stream = await fetch(`${t.url}/roster.events.v1.EventService/StreamEvents`, {
      method: "POST",
      headers: { "content-type": "application/connect+proto", authorization: `Bearer ${t.adminKey}` },
      body: frame(0, truncated),
    });
    const streamBody = Buffer.from(await stream.arrayBuffer());
    expect(streamBody[0]).toBe(0x02);
    expect(JSON.parse(streamBody.subarray(5).toString("utf8"))).toMatchObject({ error: { code: "invalid_argument" } });

    // A well-formed message still works on the same paths.
    const fine = await fetch(`${t.url}/roster.directory.v1.DirectoryService/GetDirectory`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${t.adminKey}` },
      body: JSON.stringify({ id: okta.id }),
    });
    expect(fine.status).toBe(200);
  });
});

/** A length-prefixed message frame (gRPC, gRPC-web and Connect streaming). */
function frame(flags: number, message: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** One raw gRPC call over HTTP/2 with the given message bytes; its grpc-status. */
async function grpcRaw(baseUrl: string, path: string, message: Buffer, key: string): Promise<{ status: string | undefined }> {
  const http2 = await import("node:http2");
  const session = http2.connect(baseUrl);
  try {
    const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", authorization: `Bearer ${key}` });
    let status: string | undefined;
    stream.on("response", (headers) => {
      if (headers["grpc-status"] !== undefined) status = String(headers["grpc-status"]);
    });
    stream.on("trailers", (trailers) => {
      status = String(trailers["grpc-status"]);
    });
    stream.end(frame(0, message));
    stream.resume();
    await new Promise<void>((resolve, reject) => {
      stream.on("close", resolve);
      stream.on("error", reject);
    });
    return { status };
  } finally {
    session.close();
  }
}

describe("errors never echo unbounded input", () => {
  const huge = "x".repeat(100_000);

  it("answers a 100 KB id over gRPC with a short error, and the connection keeps working", async () => {
    const transport = createGrpcTransport({ baseUrl: t.url, interceptors: withKey(t.adminKey) as never });
    const client = createClient(DirectoryService, transport);
    for (const call of [
      () => client.getDirectory({ id: huge }),
      () => client.getUser({ directoryId: okta.id, id: huge }),
      () => client.getGroup({ directoryId: okta.id, id: huge }),
      () => client.listUsers({ directoryId: okta.id, options: { filter: `userName eq "${huge.slice(0, 4000)}" and` } }),
    ]) {
      const failure = await failureOf(call());
      expect([Code.InvalidArgument, Code.NotFound]).toContain(failure.code);
      expect(failure.message.length).toBeLessThan(600);
      // The same HTTP/2 connection still serves the next call.
      const { directory } = await client.getDirectory({ id: okta.id });
      expect(directory!.id).toBe(okta.id);
    }
  });

  it("answers SCIM requests naming huge ids and paths with a short detail", async () => {
    const long = "y".repeat(8000);
    for (const [method, path] of [
      ["GET", `/Users/${long}`],
      ["GET", `/Groups/${long}`],
      ["GET", `/Schemas/${long}`],
      ["GET", `/ResourceTypes/${long}`],
      ["GET", `/${long}`],
      ["GET", `/Users/${long}/more`],
    ] as const) {
      const res = await okta.scim(method, path);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(String(res.body.detail).length, `${method} ${path.slice(0, 20)}`).toBeLessThan(600);
    }
    const member = await okta.scim("PATCH", `/Groups/${groupId}`, patchOp({ op: "add", path: "members", value: [{ value: long }] }));
    expectScimError(member, 400);
    expect(String(member.body.detail).length).toBeLessThan(600);
  });
});

describe("cursor paging", () => {
  it("count=0 with a cursor returns no one and a cursor that skips no one", async () => {
    const first = await okta.scim("GET", "/Users?cursor=&count=0");
    expect(first.status).toBe(200);
    expect(first.body.totalResults).toBe(7);
    expect(first.body.Resources).toEqual([]);
    const seen: string[] = [];
    let cursor = first.body.nextCursor as string | undefined;
    expect(cursor).toBeTruthy();
    for (let page = 0; cursor !== undefined && page < 20; page++) {
      const res = await okta.scim("GET", `/Users?cursor=${encodeURIComponent(cursor)}&count=3`);
      expect(res.status).toBe(200);
      seen.push(...(res.body.Resources as Array<{ id: string }>).map((r) => r.id));
      // A count=0 mid-way neither moves nor loses the position.
      if (page === 0 && res.body.nextCursor !== undefined) {
        const peek = await okta.scim("GET", `/Users?cursor=${encodeURIComponent(res.body.nextCursor as string)}&count=0`);
        expect(peek.body.Resources).toEqual([]);
        expect(peek.body.nextCursor).toBe(res.body.nextCursor);
      }
      cursor = res.body.nextCursor as string | undefined;
    }
    expect(seen.sort()).toEqual([...userIds].sort());
  });
});

describe("absolute URLs come from the configured public URL", () => {
  /** A GET with a Host header of the caller's choosing (fetch does not allow setting it). */
  function getWithHost(path: string, host: string, token: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
    const url = new URL(t.url);
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: url.hostname, port: url.port, path: `/scim/v2${path}`, method: "GET", headers: { host, authorization: `Bearer ${token}` } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }));
        },
      );
      req.on("error", reject);
      req.end();
    });
  }

  it("never reflects the Host header", async () => {
    const evil = "evil.example.com";
    for (const path of [`/Users/${userIds[0]}`, `/Groups/${groupId}`, "/Users", "/Groups", "/Schemas", "/ResourceTypes", "/ServiceProviderConfig"]) {
      const res = await getWithHost(path, evil, okta.secret);
      expect(res.status, path).toBe(200);
      expect(res.text, path).not.toContain(evil);
    }
    const user = JSON.parse((await getWithHost(`/Users/${userIds[0]}`, evil, okta.secret)).text) as { meta: { location: string }; groups: Array<{ $ref: string }> };
    expect(user.meta.location).toBe(`${PUBLIC_URL}/scim/v2/Users/${userIds[0]}`);
    expect(user.groups[0]!.$ref).toBe(`${PUBLIC_URL}/scim/v2/Groups/${groupId}`);
    const created = await okta.scim("POST", "/Users", { schemas: [USER_SCHEMA], userName: "located@example.com" }, { headers: { "x-forwarded-host": evil } });
    expect(created.headers.get("location")).toBe(`${PUBLIC_URL}/scim/v2/Users/${created.body.id}`);
    expect((await okta.scim("DELETE", `/Users/${created.body.id}`)).status).toBe(204);
  });
});

describe("filters over served attributes match or are refused", () => {
  const list = (dir: ScimDirectory, type: "Users" | "Groups", filter: string) => dir.scim("GET", `/${type}?filter=${encodeURIComponent(filter)}`);

  it("refuses filters on group memberships of users, in every mode", async () => {
    // GET shows the user's groups; a filter over them must not answer an empty success.
    const shown = await okta.scim("GET", `/Users/${userIds[0]}`);
    expect(shown.body.groups).toEqual([expect.objectContaining({ value: groupId, display: "Engineering" })]);
    for (const dir of [okta, entra, strict]) {
      for (const filter of [
        'groups.display eq "Engineering"',
        `groups.value eq "${groupId}"`,
        'groups[display eq "Engineering"]',
        "groups pr",
        'groups eq "x"',
        'groups.type eq "direct"',
        'not (groups.display eq "Engineering")',
        'userName pr and groups.display eq "Engineering"',
      ]) {
        expectScimError(await list(dir, "Users", filter), 400, "invalidFilter");
      }
    }
  });

  it("refuses filters on computed meta and schemas, and keeps the stored dates", async () => {
    for (const [type, filter] of [
      ["Users", 'meta.resourceType eq "User"'],
      ["Users", `meta.location co "${userIds[0]}"`],
      ["Users", 'meta.version eq "W/\\"1\\""'],
      ["Users", "meta pr"],
      ["Users", 'meta[resourceType eq "User"]'],
      ["Users", 'schemas eq "urn:ietf:params:scim:schemas:core:2.0:User"'],
      ["Groups", 'meta.resourceType eq "Group"'],
      ["Groups", "schemas pr"],
      ["Groups", 'members.display eq "User 0"'],
      ["Groups", 'members[type eq "User"]'],
      ["Users", 'members.value eq "x"'],
      ["Groups", 'userName eq "x"'],
    ] as const) {
      for (const dir of [okta, strict]) expectScimError(await list(dir, type, filter), 400, "invalidFilter");
    }
    const dated = await list(okta, "Users", "meta.created gt 2000-01-01T00:00:00Z");
    expect(dated.body.totalResults).toBe(7);
    const member = await list(okta, "Groups", `members.value eq "${userIds[1]}"`);
    expect(member.body.Resources.map((r: { id: string }) => r.id)).toEqual([groupId]);
  });
});

describe("PATCH of read-only attributes", () => {
  it("answers 400 mutability for a remove of groups, with or without a value, in every mode", async () => {
    for (const dir of [okta, entra, strict]) {
      const user = await dir.scim("POST", "/Users", { schemas: [USER_SCHEMA], userName: `ro-${dir.id}@example.com` });
      expect(user.status).toBe(201);
      const id = user.body.id as string;
      for (const op of [
        { op: "remove", path: "groups", value: "" },
        { op: "remove", path: "groups" },
        { op: "remove", path: "groups", value: [{ value: groupId }] },
        { op: "remove", path: "meta" },
        { op: "remove", path: "id", value: "" },
        { op: "Remove", path: "groups.display" },
      ]) {
        expectScimError(await dir.scim("PATCH", `/Users/${id}`, patchOp(op)), 400, "mutability");
      }
    }
  });
});

describe("nested groups", () => {
  it("advertises only users as group members", async () => {
    const schema = await okta.scim("GET", `/Schemas/${GROUP_SCHEMA}`);
    const members = (schema.body.attributes as Array<{ name: string; subAttributes: Array<{ name: string; referenceTypes?: string[]; canonicalValues?: string[] }> }>).find((a) => a.name === "members")!;
    expect(members.subAttributes.find((s) => s.name === "$ref")!.referenceTypes).toEqual(["User"]);
    expect(members.subAttributes.find((s) => s.name === "type")!.canonicalValues).toEqual(["User"]);
  });

  it("names a group given as a member for what it is", async () => {
    const other = await okta.scim("POST", "/Groups", { schemas: [GROUP_SCHEMA], displayName: "Nested" });
    expect(other.status).toBe(201);
    for (const res of [
      await okta.scim("PATCH", `/Groups/${groupId}`, patchOp({ op: "add", path: "members", value: [{ value: other.body.id }] })),
      await okta.scim("POST", "/Groups", { schemas: [GROUP_SCHEMA], displayName: "Parent", members: [{ value: other.body.id, type: "Group" }] }),
    ]) {
      expectScimError(res, 400, "invalidValue");
      expect(res.body.detail).toContain(other.body.id);
      expect(res.body.detail).toMatch(/is a group/);
      expect(res.body.detail).not.toMatch(/no such user/);
    }
  });
});

describe("Connect over HTTP/1.1 gets the same answers", () => {
  it("keeps a short message for a huge id", async () => {
    const client = createClient(DirectoryService, createConnectTransport({ baseUrl: t.url, httpVersion: "1.1", interceptors: withKey(t.adminKey) as never }));
    const failure = await failureOf(client.getUser({ directoryId: okta.id, id: "z".repeat(100_000) }));
    expect([Code.InvalidArgument, Code.NotFound]).toContain(failure.code);
    expect(failure.message.length).toBeLessThan(600);
  });
});
