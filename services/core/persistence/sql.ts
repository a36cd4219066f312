// Raw, server-side parameterised SQL inside the entity manager's transaction. Used where
// the ORM's query API cannot say what we need: row locks in a fixed order, jsonb filters
// compiled from SCIM, set-based membership changes and bulk event inserts.
import { CompiledQuery } from "kysely";
import type pg from "pg";
import type { EntityManager } from "@mikro-orm/postgresql";

export type Sql = <T = Record<string, unknown>>(text: string, params?: readonly unknown[]) => Promise<T[]>;

/** SQL on a node-postgres pool: each call is its own statement, in no explicit transaction. */
export function sqlOnPool(pool: pg.Pool): Sql {
  return async <T>(text: string, params: readonly unknown[] = []) => (await pool.query(text, [...params])).rows as T[];
}

export function sqlFor(em: EntityManager): Sql {
  return async <T>(text: string, params: readonly unknown[] = []) => {
    const result = await em.getKysely().executeQuery(CompiledQuery.raw(text, [...params]));
    return result.rows as T[];
  };
}

/** Whether error (or one of its causes) is the Postgres error `code` on `constraint`. */
function isViolation(error: unknown, code: string, constraint: string): boolean {
  let e: unknown = error;
  while (typeof e === "object" && e !== null) {
    const candidate = e as { code?: string; constraint?: string; cause?: unknown };
    if (candidate.code === code && candidate.constraint === constraint) return true;
    e = candidate.cause;
  }
  return false;
}

export const isUniqueViolation = (error: unknown, constraint: string) => isViolation(error, "23505", constraint);
export const isForeignKeyViolation = (error: unknown, constraint: string) => isViolation(error, "23503", constraint);

/**
 * Whether error (or one of its causes) is a Postgres data exception (SQLSTATE class 22): the
 * statement's values were refused, so repeating it can only fail again.
 */
export function isDataException(error: unknown): boolean {
  let e: unknown = error;
  for (let depth = 0; depth < 8 && typeof e === "object" && e !== null; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && /^22[0-9A-Z]{3}$/.test(code)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}
