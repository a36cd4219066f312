// Helpers shared by the benchmarks: child processes and the statistics they print.
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import type { NewEvent } from "../services/core/domain/events.ts";
import { storedEventMessage } from "../services/core/transport/event-codec.ts";

export const ROOT = path.resolve(import.meta.dirname, "..");

/** Starts `node args...` in the repository and resolves once its stdout matches `ready`. */
export function spawnUntil(args: string[], env: Record<string, string>, ready: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stderr!.on("data", (d: Buffer) => {
    err += d.toString();
    if (err.length > 20_000) err = err.slice(-10_000);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args.join(" ")} did not start in 60 s:\n${out}\n${err}`)), 60_000);
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const match = ready.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ child, match });
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(" ")} exited with ${code}:\n${out}\n${err}`));
    });
  });
}

/** SIGTERM, then SIGKILL after 10 s; resolves once the child has exited. */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

export const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
export const percentile = (xs: readonly number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
export const fmt = (n: number | undefined, digits = 1) => (n === undefined ? "n/a" : n.toFixed(digits));


/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** CPU seconds (user + system) a process has used so far; undefined when it is gone or not on Linux. */
async function cpuSeconds(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces) start at ") ": utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** The pids of the local Postgres server's processes (its backends included); empty when it runs elsewhere. */
async function postgresPids(): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir("/proc").catch(() => [])) {
    if (!/^\d+$/.test(entry)) continue;
    const comm = await readFile(`/proc/${entry}/comm`, "utf8").catch(() => "");
    if (comm.trim() === "postgres") pids.push(Number(entry));
  }
  return pids;
}

/**
 * CPU seconds used by a server process and by the local Postgres server between start() and
 * the function start() returns. On a machine whose cores are all busy, CPU per request predicts
 * throughput better than a rate measured beside other work. A backend that exits in between
 * is not counted.
 */
export async function cpuMeter(pid: number | undefined): Promise<() => Promise<{ server: number | undefined; postgres: number | undefined }>> {
  const pgPids = await postgresPids();
  const before = new Map<number, number | undefined>();
  for (const p of pgPids) before.set(p, await cpuSeconds(p));
  const serverBefore = pid === undefined ? undefined : await cpuSeconds(pid);
  return async () => {
    const serverAfter = pid === undefined ? undefined : await cpuSeconds(pid);
    let postgres = 0;
    for (const p of pgPids) {
      const [a, b] = [before.get(p), await cpuSeconds(p)];
      if (a !== undefined && b !== undefined) postgres += b - a;
    }
    return {
      server: serverBefore === undefined || serverAfter === undefined ? undefined : serverAfter - serverBefore,
      postgres: pgPids.length === 0 ? undefined : postgres,
    };
  };
}

/**
 * `users` x 10 `user.updated` events as the service writes them (the event, its payload as
 * stored), sequence-major: every user's first event, then every user's second, and so on.
 */
export function* userUpdates(directoryId: string, users: number): Generator<{ event: NewEvent; payload: string }> {
  const now = new Date();
  const ids = Array.from({ length: users }, () => randomUUID());
  for (let n = 1; n <= 10; n++) {
    for (const [i, id] of ids.entries()) {
      const user = { id, directoryId, userName: `u${i + 1}@bench.example`, state: "active", active: true, version: n, resource: { title: "Engineer" }, createdAt: now.toISOString(), updatedAt: now.toISOString(), deletedAt: null };
      const event: NewEvent = { id: randomUUID(), directoryId, subjectType: "user", subjectId: id, sequence: n, type: "user.updated", occurredAt: now, payload: { user, changedAttributes: ["title"] } };
      yield { event, payload: JSON.stringify(event.payload) };
    }
  }
}

/**
 * Writes userUpdates() to the outbox as unpublished rows (payload and stored Event message),
 * in statements of 5,000 rows. `query` runs one statement.
 */
export async function seedUserUpdates(query: (text: string, params: unknown[]) => Promise<unknown>, directoryId: string, users: number): Promise<void> {
  const rows: Array<{ event: NewEvent; payload: string }> = [];
  const flush = async () => {
    await query(
      `INSERT INTO outbox_events (id, directory_id, subject_type, subject_id, sequence, type, payload, occurred_at, event)
       SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::bigint[], $6::text[], $7::jsonb[], $8::timestamptz[], $9::bytea[])`,
      [
        rows.map((r) => r.event.id),
        rows.map((r) => r.event.directoryId),
        rows.map((r) => r.event.subjectType),
        rows.map((r) => r.event.subjectId),
        rows.map((r) => r.event.sequence),
        rows.map((r) => r.event.type),
        rows.map((r) => r.payload),
        rows.map((r) => r.event.occurredAt),
        rows.map((r) => storedEventMessage(r.event, r.payload)),
      ],
    );
    rows.length = 0;
  };
  for (const row of userUpdates(directoryId, users)) {
    rows.push(row);
    if (rows.length === 5_000) await flush();
  }
  if (rows.length > 0) await flush();
}
