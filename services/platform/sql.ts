// SQL the entity API cannot say (row locks in a fixed order, jsonb filters compiled from
// SCIM, set-based membership changes, bulk event inserts), run through MikroORM's Kysely
// integration: the same connections, and the same transaction, as the entity manager's.
import { CompiledQuery } from "kysely";
import type { EntityManager } from "@mikro-orm/postgresql";
import pg from "pg";

/** One parameterised statement ($1, $2, ...); resolves to its rows. */
export type Sql = <T = Record<string, unknown>>(text: string, params?: readonly unknown[]) => Promise<T[]>;

/**
 * Statements on `em.getKysely()`. Inside `em.transactional((em) => ...)` they run in that
 * transaction; on an entity manager outside one (e.g. `orm.em.fork()`), each runs on its own
 * on the ORM's pool. Parameters travel separately from the text, never spliced into it.
 *
 *   await orm.em.fork().transactional(async (em) => {
 *     const sql = sqlFor(em);
 *     const rows = await sql<{ seq: string }>("SELECT seq FROM outbox_events WHERE directory_id = $1 FOR UPDATE", [id]);
 *   });
 *
 * Values come back as the ORM's type parsers leave them: timestamps and bigints as text (see
 * toDate), jsonb parsed.
 */
export function sqlFor(em: EntityManager): Sql {
  return async <T>(text: string, params: readonly unknown[] = []) => {
    const result = await em.getKysely().executeQuery(CompiledQuery.raw(text, [...params]));
    return result.rows as T[];
  };
}

/**
 * Statement texts run as named prepared statements: Postgres parses and plans an unnamed
 * statement on every execution, which for a SCIM write's few fixed statements was half of
 * Postgres' CPU per request (bench/scim-create.ts). Only fixed texts are registered, at module
 * level: a text built per request (a compiled SCIM filter) would leave one more prepared
 * statement on every connection for each distinct text.
 *
 *   const LOCK_USER = prepared("SELECT * FROM users WHERE directory_id = $1 AND id = $2 FOR UPDATE");
 */
const preparedNames = new Map<string, string>();
/** Far above the fixed texts there are: reaching it means a text built at run time was registered. */
const MAX_PREPARED = 200;

export function prepared(text: string): string {
  if (preparedNames.has(text)) return text;
  if (preparedNames.size >= MAX_PREPARED) throw new Error(`more than ${MAX_PREPARED} prepared statements: register fixed texts only`);
  preparedNames.set(text, `roster_${preparedNames.size + 1}`);
  return text;
}

/**
 * The ORM pool's connection class. A registered text with parameters runs as its named
 * statement (prepared on the connection's first use), anything else as before; the ORM's
 * Kysely driver calls query(text, parameters).
 *
 * It also saves a round trip per transaction: the `begin` the ORM sends is answered at once
 * and goes out with the transaction's first statement, in the same write (pg's pipeline
 * mode sends a query without waiting for the one before). Postgres runs them in order, so
 * that statement is inside the transaction, as before; `begin` cannot fail on an open
 * connection, and a connection lost fails the statement after it. COMMIT is never deferred:
 * its answer is the transaction's outcome.
 */
export class PreparingClient extends pg.Client {
  /** A `begin` (or `start transaction ...`) answered but not yet sent. */
  private deferredBegin: string | undefined;

  constructor(config?: string | pg.ClientConfig) {
    // The pool's config as given, not a copy: pg-pool hides the password as a non-enumerable
    // property, which a copy would drop.
    super(config);
    (this as { pipeline: boolean }).pipeline = true;
  }

  override query(...args: unknown[]): never {
    const [text, values] = args;
    const withParameters = typeof text === "string" && Array.isArray(values) && args.length === 2;
    const run = (...a: unknown[]): Promise<unknown> => Reflect.apply(pg.Client.prototype.query, this, a) as Promise<unknown>;
    if (withParameters && values.length === 0 && this.deferredBegin === undefined && BEGIN.test(text)) {
      this.deferredBegin = text;
      return Promise.resolve(BEGIN_RESULT) as never;
    }
    const name = withParameters ? preparedNames.get(text) : undefined;
    const statement = name === undefined ? args : [{ name, text, values }];
    const begin = this.deferredBegin;
    if (begin === undefined) return run(...statement) as never;
    this.deferredBegin = undefined;
    const stream = (this as unknown as { connection: { stream: { cork(): void; uncork(): void } } }).connection.stream;
    stream.cork();
    try {
      // Its failure (only a lost connection) is the next statement's failure too.
      run(begin).catch(() => {});
      return run(...statement) as never;
    } finally {
      stream.uncork();
    }
  }
}

/** The texts that open a transaction, as the ORM's Kysely driver sends them. */
const BEGIN = /^(begin|start transaction( [a-z ]+)?)$/;
const BEGIN_RESULT = Object.freeze({ command: "BEGIN", rowCount: null, rows: Object.freeze([]), fields: Object.freeze([]) });

/** A timestamp column as a Date. */
export const toDate = (v: Date | string): Date => (v instanceof Date ? v : new Date(v));
export const toOptionalDate = (v: Date | string | null): Date | null => (v === null ? null : toDate(v));

/** The error and its causes, outermost first (a bounded walk: a cause chain may loop). */
function* causes(error: unknown): Generator<{ code?: unknown; constraint?: unknown }> {
  let e: unknown = error;
  for (let depth = 0; depth < 8 && typeof e === "object" && e !== null; depth++) {
    yield e as { code?: unknown; constraint?: unknown };
    e = (e as { cause?: unknown }).cause;
  }
}

/** Whether error (or one of its causes) is the Postgres error `code` on `constraint`. */
function isViolation(error: unknown, code: string, constraint: string): boolean {
  for (const e of causes(error)) if (e.code === code && e.constraint === constraint) return true;
  return false;
}

export const isUniqueViolation = (error: unknown, constraint: string) => isViolation(error, "23505", constraint);
export const isForeignKeyViolation = (error: unknown, constraint: string) => isViolation(error, "23503", constraint);

/**
 * Whether error (or one of its causes) is a Postgres data exception (SQLSTATE class 22): the
 * statement's values were refused, so repeating it can only fail again.
 */
export function isDataException(error: unknown): boolean {
  for (const e of causes(error)) if (typeof e.code === "string" && /^22[0-9A-Z]{3}$/.test(e.code)) return true;
  return false;
}
