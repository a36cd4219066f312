// The examples' own promises, without a server: the revocation worker against the fake
// EventService (a gap stops it; a damaged cursor file stops it before it revokes anyone), and
// the examples run on every Node the packages' engines admit.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRosterClients } from "./client.ts";
import { CursorStoreError, fileCursorStore, memoryCursorStore, type CursorStore } from "./cursor-store.ts";
import { SequenceGapError } from "./ordering.ts";
import { startFakeEventService, userEvent, type FakeEventService } from "./testing/fake-event-service.ts";
import { runRevocationWorker } from "../examples/revocation-worker.ts";

// One directory per test: the fake's log is shared.
const DIRS = { gap: "0197a3b0-0000-7000-8000-00000000e1e1", damaged: "0197a3b0-0000-7000-8000-00000000e1e2", resume: "0197a3b0-0000-7000-8000-00000000e1e3" };
let fake: FakeEventService;
const dir = await mkdtemp(path.join(tmpdir(), "roster-examples-"));

beforeAll(async () => {
  fake = await startFakeEventService();
});
afterAll(async () => {
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});

function worker(directoryId: string, cursors: CursorStore = memoryCursorStore()) {
  const revoked: string[] = [];
  const { events } = createRosterClients({ baseUrl: fake.url, apiKey: fake.apiKey });
  const controller = new AbortController();
  const done = runRevocationWorker({
    events,
    directoryId,
    cursors,
    signal: controller.signal,
    revoker: { revoke: async (user, reason) => void revoked.push(`${user.id}:${reason}`) },
  });
  return { revoked, done, controller, cursors };
}

describe("revocation worker", () => {
  it("stops with SequenceGapError when a subject's events are missing, before handling the event after the hole", async () => {
    // gap-user's event 3 (say, a reactivation) is lost; 4 deletes them.
    const DIR = DIRS.gap;
    fake.append(userEvent(DIR, "gap-user", 1, "userCreated"), userEvent(DIR, "gap-user", 2, "userDeactivated"), userEvent(DIR, "gap-user", 4, "userDeleted"));
    const w = worker(DIR);
    const error = await w.done.then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(SequenceGapError);
    expect(error).toMatchObject({ subjectId: "gap-user", expected: 3n, received: 4n });
    expect(w.revoked).toEqual(["gap-user:deactivated"]);
  });

  it("refuses a damaged cursor file instead of revoking everyone again from the start", async () => {
    const file = path.join(dir, "cursor");
    await writeFile(file, "\u0000\u0000garbage\u0000");
    const w = worker(DIRS.damaged, fileCursorStore(file));
    await expect(w.done).rejects.toBeInstanceOf(CursorStoreError);
    expect(w.revoked).toEqual([]);
  });

  it("persists its cursor to the file and resumes after it", async () => {
    const file = path.join(dir, "resume");
    const DIR = DIRS.resume;
    fake.append(userEvent(DIR, "leaver", 1, "userCreated"), userEvent(DIR, "leaver", 2, "userDeactivated"));
    const w = worker(DIR, fileCursorStore(file));
    await expect.poll(() => w.revoked, { timeout: 10_000 }).toContain("leaver:deactivated");
    w.controller.abort();
    await w.done.catch(() => {});
    const saved = await fileCursorStore(file).load();
    expect(saved).toBeTruthy();
    fake.append(userEvent(DIR, "leaver", 3, "userDeleted"));
    const again = worker(DIR, fileCursorStore(file));
    await expect.poll(() => again.revoked, { timeout: 10_000 }).toEqual(["leaver:deleted"]);
    again.controller.abort();
    await again.done.catch(() => {});
  });
});

describe("examples on the oldest Node the engines admit", () => {
  it("run as scripts without import.meta.main (Node 24.2+), since the engines start at 24.0", async () => {
    const engines = [
      JSON.parse(await readFile(path.resolve(import.meta.dirname, "../package.json"), "utf8")).engines.node as string,
      JSON.parse(await readFile(path.resolve(import.meta.dirname, "../../package.json"), "utf8")).engines.node as string,
    ];
    const admits24_0 = engines.some((e) => /^>=\s*24\.[01]\.\d+/.test(e) || /^>=\s*24(\.0)?\s*$/.test(e));
    for (const example of ["revocation-worker.ts", "read-model.ts"]) {
      const source = await readFile(path.resolve(import.meta.dirname, "../examples", example), "utf8");
      if (admits24_0) expect(source, example).not.toMatch(/if \(import\.meta\.main\)/);
      // Run directly, the example's main block runs: it asks for its configuration.
      const run = promisify(execFile)(process.execPath, [path.resolve(import.meta.dirname, "../examples", example)], { env: { PATH: process.env.PATH ?? "" } });
      const failure = await run.then(() => undefined, (e: { code: number; stderr: string }) => e);
      expect(failure?.stderr, example).toContain("set ROSTER_URL");
    }
  });
});
