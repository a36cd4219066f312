// What PATCH answers, per resource and provider, as docs/scim.md states it: a user PATCH
// answers 200 with the resource (204 for Entra); a group PATCH answers 204 for every provider
// unless the client asks for a representation with `attributes` or `excludedAttributes`
// (then 200, except for Entra).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProviderKind } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { startTestRoster, type TestRoster } from "../testing/roster.ts";
import { createScimDirectory, GROUP_SCHEMA, patchOp, USER_SCHEMA } from "../testing/scim.ts";

let t: TestRoster;
beforeAll(async () => {
  t = await startTestRoster();
});
afterAll(async () => {
  await t?.stop();
});

const PROVIDERS = [ProviderKind.OKTA, ProviderKind.ENTRA, ProviderKind.GOOGLE, ProviderKind.ONELOGIN, ProviderKind.JUMPCLOUD, ProviderKind.GENERIC];

describe("PATCH status", () => {
  it.each(PROVIDERS.map((p) => [ProviderKind[p], p] as const))("%s: users 200 with the resource (Entra 204); groups 204 unless a representation is asked for", async (_name, provider) => {
    const dir = await createScimDirectory(t, provider);
    const entra = provider === ProviderKind.ENTRA;
    const user = await dir.scim("POST", "/Users", { schemas: [USER_SCHEMA], userName: `patch-${provider}@example.com`, active: true });
    expect(user.status).toBe(201);
    const userId = (user.body as { id: string }).id;
    const group = await dir.scim("POST", "/Groups", { schemas: [GROUP_SCHEMA], displayName: `patch-${provider}` });
    const groupId = (group.body as { id: string }).id;

    const userPatch = await dir.scim("PATCH", `/Users/${userId}`, patchOp({ op: "replace", path: "displayName", value: "Changed" }));
    expect(userPatch.status).toBe(entra ? 204 : 200);
    if (!entra) expect(userPatch.body).toMatchObject({ id: userId, displayName: "Changed" });

    const groupPatch = await dir.scim("PATCH", `/Groups/${groupId}`, patchOp({ op: "add", path: "members", value: [{ value: userId }] }));
    expect(groupPatch.status).toBe(204);
    expect(groupPatch.headers.get("etag")).toBeTruthy();

    const asked = await dir.scim("PATCH", `/Groups/${groupId}?excludedAttributes=members`, patchOp({ op: "replace", value: { displayName: "Renamed" } }));
    expect(asked.status).toBe(entra ? 204 : 200);
    if (!entra) expect(asked.body).toMatchObject({ id: groupId, displayName: "Renamed" });
  });
});
