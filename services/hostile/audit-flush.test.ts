// The SCIM facade's audit buffer when the core cannot take records: a facade running apart
// from its core keeps the records, logs the outage once (not every flush), and stores them
// when the core is back.
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiKeyScope, DirectoryService, ProviderKind } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import { startRoster, type Roster } from "../app.ts";
import { loadConfig } from "../config.ts";
import { createLogger } from "../platform/logger.ts";
import { queryDatabase } from "../testing/database.ts";
import { startTestRoster, type TestRoster } from "../testing/roster.ts";
import { scimRequest } from "../testing/scim.ts";
import { freePort } from "../testing/ports.ts";

let t: TestRoster;
let facade: Roster | undefined;
const facadeLogs: string[] = [];

beforeAll(async () => {
  // A fixed port, so the core comes back where the facade looks for it.
  t = await startTestRoster({ ROSTER_PORT: String(await freePort()) });
});

afterAll(async () => {
  await facade?.stop();
  await t?.stop();
});

const lines = (text: string) => facadeLogs.filter((l) => l.includes(text));

async function audited(requestIds: readonly string[]): Promise<number> {
  const rows = await queryDatabase(t.database.url, `SELECT 1 FROM scim_audit WHERE request_id = ANY($1::text[])`, [requestIds]);
  return rows.length;
}

describe("the audit buffer of a facade whose core is down", () => {
  it("keeps the records, logs the outage once, and stores them when the core is back", async () => {
    const admin = t.client(DirectoryService);
    const { secret: coreKey } = await admin.createApiKey({ name: "facade", scope: ApiKeyScope.ADMIN });
    const { directory } = await admin.createDirectory({ name: "flush", provider: ProviderKind.OKTA });
    const { secret } = await admin.createScimToken({ directoryId: directory!.id, name: "okta" });
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        facadeLogs.push(chunk.toString("utf8"));
        done();
      },
    });
    facade = await startRoster(loadConfig({ ROSTER_ROLES: "scim", ROSTER_PORT: "0", ROSTER_CORE_URL: t.url, ROSTER_CORE_API_KEY: coreKey }), createLogger("info", sink));
    const call = (requestId: string) => scimRequest(facade!.server.url, secret, "GET", "/Users", undefined, { headers: { "x-request-id": requestId } });
    expect((await call("flush-before")).status).toBe(200);
    for (const deadline = Date.now() + 5_000; (await audited(["flush-before"])) === 0 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
    expect(await audited(["flush-before"])).toBe(1);

    await t.stopServer();
    const during = ["flush-during-1", "flush-during-2", "flush-during-3"];
    for (const id of during) expect((await call(id)).status).toBeGreaterThanOrEqual(500);
    // Several flush intervals pass while the core is away.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(lines("could not store SCIM audit records")).toHaveLength(1);

    await t.restart();
    for (const deadline = Date.now() + 10_000; (await audited(during)) < during.length && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 100));
    expect(await audited(during)).toBe(during.length);
    expect(lines("SCIM audit records are stored again")).toHaveLength(1);
    expect(lines("could not store SCIM audit records")).toHaveLength(1);
  }, 60_000);
});
