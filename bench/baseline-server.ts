// The baseline for bench/scim-create.ts: the least a SCIM write can do. A bare node:http
// server with plain `pg`, on the same tables Roster writes, one transaction per request:
// - POST /Users parses the JSON body, checks userName, inserts the user row and its outbox
//   row, and answers 201;
// - PATCH /Users/{id} reads a path-less `replace` of `active` (as Okta and Entra deactivate),
//   locks the user (SELECT ... FOR UPDATE), updates it, inserts its outbox row, and answers
//   200 with the resource.
// No SCIM schema handling, no authentication, no RPC layer, no ORM.
//
// Usage: DATABASE_URL=... BASELINE_DIRECTORY_ID=... node bench/baseline-server.ts
// Prints `listening <url>` once ready.
import { randomUUID } from "node:crypto";
import http from "node:http";
import pg from "pg";

const databaseUrl = process.env.DATABASE_URL;
const directoryId = process.env.BASELINE_DIRECTORY_ID;
if (!databaseUrl || !directoryId) throw new Error("DATABASE_URL and BASELINE_DIRECTORY_ID are required");
// The same pool size as Roster's core (ROSTER_DATABASE_POOL_MAX's default).
const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });

async function create(body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const userName = body.userName;
  if (typeof userName !== "string" || userName === "") throw Object.assign(new Error("userName is required"), { status: 400 });
  const { password: _password, ...resource } = body;
  const id = randomUUID();
  const now = new Date();
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query(
      `INSERT INTO users (id, directory_id, user_name, external_id, active, state, display_name, resource, version, created_at, updated_at, deleted_at)
       VALUES ($1, $2, $3, $4, true, 'active', $5, $6, 1, $7, $7, NULL)`,
      [id, directoryId, userName, typeof body.externalId === "string" ? body.externalId : null, typeof body.displayName === "string" ? body.displayName : null, JSON.stringify(resource), now],
    );
    await client.query(
      `INSERT INTO outbox_events (id, directory_id, subject_type, subject_id, sequence, type, payload, occurred_at)
       VALUES ($1, $2, 'user', $3, 1, 'user.created', $4, $5)`,
      [randomUUID(), directoryId, id, JSON.stringify({ user: { id, directoryId, ...resource, version: 1 } }), now],
    );
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
  return { ...resource, id, meta: { resourceType: "User", created: now.toISOString(), lastModified: now.toISOString(), version: 'W/"1"' } };
}

async function setActive(id: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const op = Array.isArray(body.Operations) ? (body.Operations[0] as { value?: { active?: unknown } } | undefined) : undefined;
  const active = op?.value?.active;
  if (typeof active !== "boolean") throw Object.assign(new Error("a replace of active is expected"), { status: 400 });
  const now = new Date();
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const { rows } = await client.query<{ resource: Record<string, unknown>; version: string }>(
      "SELECT resource, version FROM users WHERE id = $1 AND directory_id = $2 AND deleted_at IS NULL FOR UPDATE",
      [id, directoryId],
    );
    const row = rows[0];
    if (!row) throw Object.assign(new Error("no such user"), { status: 404 });
    const version = Number(row.version) + 1;
    const resource = { ...row.resource, active };
    await client.query("UPDATE users SET active = $2, state = $3, resource = $4, version = $5, updated_at = $6 WHERE id = $1", [
      id,
      active,
      active ? "active" : "inactive",
      JSON.stringify(resource),
      version,
      now,
    ]);
    await client.query(
      `INSERT INTO outbox_events (id, directory_id, subject_type, subject_id, sequence, type, payload, occurred_at)
       VALUES ($1, $2, 'user', $3, $4, $5, $6, $7)`,
      [randomUUID(), directoryId, id, version, active ? "user.reactivated" : "user.deactivated", JSON.stringify({ user: { id, directoryId, ...resource, version } }), now],
    );
    await client.query("COMMIT");
    return { ...resource, id, meta: { resourceType: "User", lastModified: now.toISOString(), version: `W/"${version}"` } };
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

const server = http.createServer({ keepAliveTimeout: 5_000 }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const reply = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      res.writeHead(status, { "content-type": "application/scim+json", "content-length": Buffer.byteLength(text) });
      res.end(text);
    };
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
    } catch {
      reply(400, { status: "400", scimType: "invalidSyntax" });
      return;
    }
    const patch = req.method === "PATCH" ? /^\/Users\/([0-9a-f-]{36})$/.exec(req.url ?? "") : null;
    (patch ? setActive(patch[1]!, parsed) : create(parsed)).then(
      (resource) => reply(patch ? 200 : 201, resource),
      (error: { status?: number; message?: string }) => reply(error.status ?? 500, { status: String(error.status ?? 500), detail: error.message }),
    );
  });
});

server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  process.stdout.write(`listening http://127.0.0.1:${address.port}\n`);
});

process.on("SIGTERM", () => {
  server.close();
  pool.end().finally(() => process.exit(0));
});
