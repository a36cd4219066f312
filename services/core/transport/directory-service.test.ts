// DirectoryService's directory, token and API-key RPCs through the generated client over
// real HTTP against real Postgres.
import { toJsonString } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failureOf } from "../../testing/connect.ts";
import { Code, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import {
  ApiKeyScope,
  DirectoryService,
  DirectoryState,
  ListScimTokensResponseSchema,
  ProviderKind,
} from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { queryDatabase } from "../../testing/database.ts";
import { startTestRoster, type TestRoster } from "../../testing/roster.ts";

let t: TestRoster;

beforeAll(async () => {
  t = await startTestRoster();
});

afterAll(async () => {
  await t?.stop();
});

const withKey = (key: string) => [
  (next: (req: { header: Headers }) => unknown) => (req: { header: Headers }) => {
    req.header.set("authorization", `Bearer ${key}`);
    return next(req);
  },
];

describe("protocols", () => {
  const transports = {
    "connect over HTTP/1.1": () => createConnectTransport({ baseUrl: t.url, httpVersion: "1.1", interceptors: withKey(t.adminKey) as never }),
    "connect over HTTP/2": () => createConnectTransport({ baseUrl: t.url, httpVersion: "2", interceptors: withKey(t.adminKey) as never }),
    "gRPC over HTTP/2": () => createGrpcTransport({ baseUrl: t.url, interceptors: withKey(t.adminKey) as never }),
    "gRPC-web over HTTP/1.1": () => createGrpcWebTransport({ baseUrl: t.url, httpVersion: "1.1", interceptors: withKey(t.adminKey) as never }),
  };
  for (const [name, make] of Object.entries(transports)) {
    it(`round-trips a directory over ${name}`, async () => {
      const client = createClient(DirectoryService, make());
      const { directory } = await client.createDirectory({ name: `acme ${name}`, provider: ProviderKind.ENTRA });
      expect(directory?.provider).toBe(ProviderKind.ENTRA);
      expect(directory?.state).toBe(DirectoryState.ACTIVE);
      const got = await client.getDirectory({ id: directory!.id });
      expect(got.directory?.name).toBe(`acme ${name}`);
      // Errors carry their code over every protocol.
      const missing = await failureOf(client.getDirectory({ id: "00000000-0000-7000-8000-000000000000" }));
      expect(missing.code).toBe(Code.NotFound);
    });
  }
});

describe("API keys", () => {
  it("refuses a call without a key", async () => {
    const client = createClient(DirectoryService, createConnectTransport({ baseUrl: t.url, httpVersion: "1.1" }));
    expect((await failureOf(client.listDirectories({}))).code).toBe(Code.Unauthenticated);
  });

  it("refuses a malformed or unknown key", async () => {
    expect((await failureOf(t.client(DirectoryService, "nonsense").listDirectories({}))).code).toBe(Code.Unauthenticated);
    const forged = "rst_key_AAAAAAAAAAAA_" + "A".repeat(43);
    expect((await failureOf(t.client(DirectoryService, forged).listDirectories({}))).code).toBe(Code.Unauthenticated);
  });

  it("lets a read key read but not write", async () => {
    const admin = t.client(DirectoryService);
    const { secret } = await admin.createApiKey({ name: "reader", scope: ApiKeyScope.READ });
    const reader = t.client(DirectoryService, secret);
    await expect(reader.listDirectories({})).resolves.toBeDefined();
    const denied = await failureOf(reader.createDirectory({ name: "x", provider: ProviderKind.OKTA }));
    expect(denied.code).toBe(Code.PermissionDenied);
    expect((await failureOf(reader.createApiKey({ name: "escalate", scope: ApiKeyScope.ADMIN }))).code).toBe(Code.PermissionDenied);
  });

  it("refuses a revoked key", async () => {
    const admin = t.client(DirectoryService);
    const { key, secret } = await admin.createApiKey({ name: "short-lived", scope: ApiKeyScope.ADMIN });
    const client = t.client(DirectoryService, secret);
    await expect(client.listDirectories({})).resolves.toBeDefined();
    const revoked = await admin.revokeApiKey({ id: key!.id });
    expect(revoked.key?.revokeTime).toBeDefined();
    expect((await failureOf(client.listDirectories({}))).code).toBe(Code.Unauthenticated);
  });

  it("stores only a hash of the key", async () => {
    const { key, secret } = await t.client(DirectoryService).createApiKey({ name: "hashed", scope: ApiKeyScope.READ });
    const rows = await queryDatabase<{ row: string }>(t.database.url, "SELECT row_to_json(k)::text AS row FROM api_keys k WHERE id = $1", [key!.id]);
    expect(rows).toHaveLength(1);
    const secretHalf = secret.split("_").slice(3).join("_");
    expect(rows[0]!.row).not.toContain(secretHalf);
    expect(secret.startsWith(key!.secretPrefix)).toBe(true);
  });
});

describe("directories and SCIM tokens", () => {
  it("pages through directories", async () => {
    const client = t.client(DirectoryService);
    for (let i = 0; i < 5; i++) await client.createDirectory({ name: `paged ${i}`, provider: ProviderKind.GENERIC });
    const seen = new Set<string>();
    let pageToken = "";
    do {
      const page = await client.listDirectories({ pageSize: 2, pageToken });
      expect(page.directories.length).toBeLessThanOrEqual(2);
      for (const d of page.directories) seen.add(d.id);
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    expect(seen.size).toBeGreaterThanOrEqual(5);
  });

  it("updates a directory", async () => {
    const client = t.client(DirectoryService);
    const { directory } = await client.createDirectory({ name: "to rename", provider: ProviderKind.OKTA });
    const { directory: updated } = await client.updateDirectory({ id: directory!.id, name: "renamed", state: DirectoryState.SUSPENDED, strict: true });
    expect(updated).toMatchObject({ name: "renamed", state: DirectoryState.SUSPENDED, strict: true, provider: ProviderKind.OKTA });
  });

  it("issues, authenticates, lists and revokes SCIM tokens; the secret is never stored or logged", async () => {
    const client = t.client(DirectoryService);
    const { directory } = await client.createDirectory({ name: "tokens", provider: ProviderKind.ENTRA });
    const { token, secret } = await client.createScimToken({ directoryId: directory!.id, name: "entra connector" });
    expect(secret).toMatch(/^rst_scim_/);
    const auth = await client.authenticateScimToken({ secret });
    expect(auth.directory?.id).toBe(directory!.id);
    expect(auth.tokenId).toBe(token!.id);

    const listed = await client.listScimTokens({ directoryId: directory!.id });
    expect(listed.tokens.map((x) => x.id)).toEqual([token!.id]);
    expect(toJsonString(ListScimTokensResponseSchema, listed)).not.toContain(secret);

    const dump = await queryDatabase<{ row: string }>(t.database.url, "SELECT row_to_json(s)::text AS row FROM scim_tokens s");
    const secretHalf = secret.split("_").slice(3).join("_");
    for (const { row } of dump) expect(row).not.toContain(secretHalf);
    expect(t.logs.join("")).not.toContain(secretHalf);

    await client.revokeScimToken({ directoryId: directory!.id, id: token!.id });
    expect((await failureOf(client.authenticateScimToken({ secret }))).code).toBe(Code.Unauthenticated);
  });

  it("refuses the token of a suspended directory", async () => {
    const client = t.client(DirectoryService);
    const { directory } = await client.createDirectory({ name: "suspend me", provider: ProviderKind.OKTA });
    const { secret } = await client.createScimToken({ directoryId: directory!.id, name: "okta" });
    await client.updateDirectory({ id: directory!.id, state: DirectoryState.SUSPENDED });
    expect((await failureOf(client.authenticateScimToken({ secret }))).code).toBe(Code.Unauthenticated);
  });

  it("keeps directories and tokens across a restart", async () => {
    const client = t.client(DirectoryService);
    const { directory } = await client.createDirectory({ name: "durable", provider: ProviderKind.JUMPCLOUD });
    const { secret } = await client.createScimToken({ directoryId: directory!.id, name: "jc" });
    await t.stopServer();
    await t.restart();
    const again = t.client(DirectoryService);
    expect((await again.getDirectory({ id: directory!.id })).directory?.name).toBe("durable");
    expect((await again.authenticateScimToken({ secret })).directory?.id).toBe(directory!.id);
  });
});

describe("bad input", () => {
  const bad: Array<[string, (c: Client<typeof DirectoryService>) => Promise<unknown>, RegExp]> = [
    ["CreateDirectory without a name", (c) => c.createDirectory({ name: "  ", provider: ProviderKind.OKTA }), /name must not be empty/],
    ["CreateDirectory without a provider", (c) => c.createDirectory({ name: "x" }), /provider must be set/],
    ["CreateDirectory with a huge name", (c) => c.createDirectory({ name: "x".repeat(201), provider: ProviderKind.OKTA }), /at most 200/],
    ["GetDirectory with a non-UUID id", (c) => c.getDirectory({ id: "1; DROP TABLE directories" }), /id must be a UUID/],
    ["ListDirectories with a negative page size", (c) => c.listDirectories({ pageSize: -1 }), /page_size/],
    ["ListDirectories with a forged page token", (c) => c.listDirectories({ pageToken: "garbage!" }), /page_token/],
    ["UpdateDirectory with a bad state", (c) => c.updateDirectory({ id: "01a22241-af25-769b-b086-54a9ac54e2c2", state: 0 }), /state must be/],
    ["CreateScimToken with a bad directory id", (c) => c.createScimToken({ directoryId: "nope", name: "x" }), /directory_id must be a UUID/],
    ["ListScimTokens with a bad directory id", (c) => c.listScimTokens({ directoryId: "" }), /directory_id must be a UUID/],
    ["RevokeScimToken with a bad id", (c) => c.revokeScimToken({ directoryId: "01a22241-af25-769b-b086-54a9ac54e2c2", id: "x" }), /id must be a UUID/],
    ["CreateApiKey without a scope", (c) => c.createApiKey({ name: "x" }), /scope must be/],
    ["CreateApiKey without a name", (c) => c.createApiKey({ name: "", scope: ApiKeyScope.READ }), /name must not be empty/],
    ["RevokeApiKey with a bad id", (c) => c.revokeApiKey({ id: "zzz" }), /id must be a UUID/],
  ];
  for (const [name, call, message] of bad) {
    it(`${name} is InvalidArgument`, async () => {
      const result = await failureOf(call(t.client(DirectoryService)));
      expect(result.code).toBe(Code.InvalidArgument);
      expect(result.message).toMatch(message);
    });
  }
});
