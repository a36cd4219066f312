// The SDK as a consumer outside this repository gets it: `npm pack` of the workspace,
// installed into a fresh project with its peer dependencies (as the README says), and the
// examples run from there as plain Node scripts importing "@roster/sdk", against a live
// Roster with its relay and the real broker, through a server restart mid-run.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestRoster, type TestRoster } from "../../services/testing/roster.ts";
import { testKafkaBrokers, uniqueName } from "../../services/testing/kafka.ts";
import { createRosterClients, ProviderKind, type RosterClients } from "./index.ts";
import { freePort } from "../../services/testing/ports.ts";

const run = promisify(execFile);
const repo = path.resolve(import.meta.dirname, "../..");
const project = await mkdtemp(path.join(tmpdir(), "roster-sdk-consumer-"));
const userTopic = uniqueName("roster-pkg-users");
const groupTopic = uniqueName("roster-pkg-groups");
let t: TestRoster;
let sdk: RosterClients;
const children: ChildProcess[] = [];

/** A consumer project: the packed SDK, its peers at the versions this repo uses, the examples. */
async function installPackedSdk(): Promise<void> {
  await run("npm", ["pack", "--workspace", "@roster/sdk", "--pack-destination", project, "--silent"], { cwd: repo, maxBuffer: 16 << 20 });
  const tarball = (await readdir(project)).find((f) => f.endsWith(".tgz"));
  if (!tarball) throw new Error("npm pack wrote no tarball");
  const root = JSON.parse(await readFile(path.join(repo, "package.json"), "utf8")) as { dependencies: Record<string, string> };
  const dependencies: Record<string, string> = { "@roster/sdk": `file:./${tarball}` };
  for (const peer of ["@bufbuild/protobuf", "@connectrpc/connect", "@connectrpc/connect-node", "kafkajs"]) dependencies[peer] = `^${root.dependencies[peer]}`;
  await writeFile(path.join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module", dependencies }));
  await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts"], { cwd: project, maxBuffer: 16 << 20 });
  await cp(path.join(repo, "sdk/examples"), path.join(project, "examples"), { recursive: true });
  for (const file of await readdir(path.join(project, "examples"))) {
    const full = path.join(project, "examples", file);
    await writeFile(full, (await readFile(full, "utf8")).replaceAll('"../src/index.ts"', '"@roster/sdk"'));
  }
}

/** Starts an example as a script in the consumer project; its output lines are collected. */
function start(example: string, env: Record<string, string>): { lines: string[]; errors: string[] } {
  const out = { lines: [] as string[], errors: [] as string[] };
  const child = spawn(process.execPath, [path.join("examples", example)], { cwd: project, env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => out.lines.push(...chunk.split("\n").filter(Boolean)));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => out.errors.push(chunk));
  return out;
}

beforeAll(async () => {
  t = await startTestRoster({
    ROSTER_PORT: String(await freePort()),
    ROSTER_HOST: "127.0.0.1",
    ROSTER_ROLES: "core,scim,relay",
    ROSTER_USER_TOPIC: userTopic,
    ROSTER_GROUP_TOPIC: groupTopic,
    ROSTER_RELAY_POLL_MS: "50",
    ROSTER_STREAM_POLL_MS: "100",
  });
  sdk = createRosterClients({ baseUrl: t.url, apiKey: t.adminKey });
  await installPackedSdk();
}, 240_000);

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  await t?.stop();
  await rm(project, { recursive: true, force: true });
});

const scimUser = (userName: string) => ({ schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"], userName, active: true });

describe("the packed SDK in a consumer project", () => {
  it("installs with one copy of the generated code and types, from the root and the subpaths", async () => {
    const sdkDir = path.join(project, "node_modules/@roster/sdk");
    const files = await readdir(sdkDir, { recursive: true });
    expect(files.filter((f) => f.endsWith("directory_pb.js"))).toEqual([path.join("src/gen/roster/directory/v1/directory_pb.js")]);
    expect(files.some((f) => f.endsWith(".test.js") || f.endsWith(".test.d.ts"))).toBe(false);
    const probe = [
      'import * as root from "@roster/sdk";',
      'import * as gen from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";',
      'import * as testing from "@roster/sdk/testing";',
      'console.log(JSON.stringify([root.UserSchema === gen.UserSchema, typeof root.listUsers, typeof root.ConnectError, typeof testing.startFakeEventService]));',
    ].join("\n");
    await writeFile(path.join(project, "probe.mjs"), probe);
    const { stdout } = await run(process.execPath, ["probe.mjs"], { cwd: project });
    expect(JSON.parse(stdout)).toEqual([true, "function", "function", "function"]);
  });

  it("runs the stream worker and the Kafka read model against Roster and the broker, through a restart", async () => {
    const { directory } = await sdk.directory.createDirectory({ name: uniqueName("pkg"), provider: ProviderKind.OKTA });
    const directoryId = directory!.id;
    // The worker reports what it handled as this consumer (its example's default name), which
    // answers for the leavers from its registration on: registered before any write.
    await sdk.consumers.registerConsumer({ directoryId, name: "revocation-worker", owner: "security", objectiveSeconds: 300 });
    const [a, b, c] = [await sdk.directory.createUser({ directoryId, resource: scimUser("a@example.com") }), await sdk.directory.createUser({ directoryId, resource: scimUser("b@example.com") }), await sdk.directory.createUser({ directoryId, resource: scimUser("c@example.com") })].map((r) => r.user!);
    await sdk.directory.deactivateUser({ directoryId, id: a!.id });

    const worker = start("revocation-worker.ts", { ROSTER_URL: t.url, ROSTER_API_KEY: t.adminKey, ROSTER_DIRECTORY_ID: directoryId });
    const mirror = start("kafka-read-model.ts", { KAFKA_BROKERS: testKafkaBrokers().join(","), ROSTER_DIRECTORY_ID: directoryId, ROSTER_USER_TOPIC: userTopic, ROSTER_GROUP_TOPIC: groupTopic });
    await expect.poll(() => worker.lines.join("\n"), { timeout: 60_000 }).toContain(`revoking access of a@example.com (${a!.id}): deactivated`);

    // A planned restart mid-run: both carry on.
    await t.stopServer();
    await t.restart();
    await sdk.directory.deleteUser({ directoryId, id: b!.id });
    await expect.poll(() => worker.lines.join("\n"), { timeout: 60_000 }).toContain(`revoking access of b@example.com (${b!.id}): deleted`);

    const listed = (await sdk.directory.listUsers({ directoryId })).users;
    const active = listed.filter((u) => u.id === c!.id);
    expect(active).toHaveLength(1);
    const summary = `${listed.length} users (1 active), 0 groups`;
    await expect.poll(() => mirror.lines.filter((l) => l.startsWith("user.")).at(-1) ?? "", { timeout: 60_000 }).toContain(summary);
    expect(mirror.lines).toContain("caught up; following live");
    expect(worker.lines.filter((l) => l.startsWith("revoking"))).toHaveLength(2);
    // Its acknowledgements reached Roster, through the restart: both leavers count as revoked.
    await expect.poll(async () => (await sdk.consumers.getConsumer({ directoryId, name: "revocation-worker" })).consumer?.revokedUsers, { timeout: 30_000 }).toBe(2n);
    // Node's own warnings (kafkajs trips TimeoutNegativeWarning on Node 24) are not failures,
    // nor is a report sent while the server was down for its restart (sent again after).
    const failures = (out: { errors: string[] }) =>
      out.errors
        .join("")
        .split("\n")
        .filter((l) => l.trim() !== "" && !/Warning|--trace-warnings|Timeout duration/.test(l) && !/^acknowledgement failed, sent again with the next: \[unavailable\]/.test(l));
    expect(failures(worker)).toEqual([]);
    expect(failures(mirror)).toEqual([]);
  }, 180_000);
});
