// Where a consumer keeps its resume point. The contract is small on purpose (load once at
// start, save after each handled event) so a table in your own database fits it too: save
// the cursor in the same transaction as the effect of the event and nothing is handled twice.
import { randomBytes } from "node:crypto";
import { open, readFile, rename, rm } from "node:fs/promises";
import path from "node:path";

export interface CursorStore {
  /** The saved cursor; undefined only when none was ever saved. Throws when it cannot tell. */
  load(): Promise<string | undefined>;
  /** Durably replaces the saved cursor. */
  save(cursor: string): Promise<void>;
}

/** A saved cursor that cannot be read or is not a cursor: never treated as "start over". */
export class CursorStoreError extends Error {
  override readonly name = "CursorStoreError";
}

/** Cursors are short opaque tokens; anything else in the file is damage, not a cursor. */
const CURSOR = /^[A-Za-z0-9_\-.:=+/]{1,512}$/;

/**
 * A cursor in a file. Writes go to a temporary file in the same directory, are flushed to
 * disk, then renamed over the old one, so a crash leaves the old cursor or the new one,
 * never a torn file. A missing file means "no cursor yet"; a file that cannot be read or
 * does not hold a cursor throws CursorStoreError: starting over from the beginning would
 * hand every event to the handler again (a revocation worker would revoke everyone again).
 */
export function fileCursorStore(file: string): CursorStore {
  return {
    async load() {
      let text: string;
      try {
        text = await readFile(file, "utf8");
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw new CursorStoreError(`cannot read the cursor file ${file}`, { cause: error });
      }
      const cursor = text.trim();
      if (!CURSOR.test(cursor)) throw new CursorStoreError(`the cursor file ${file} does not hold a cursor (${text.length} bytes); restore it or delete it to start over`);
      return cursor;
    },
    async save(cursor) {
      if (!CURSOR.test(cursor)) throw new CursorStoreError("refusing to save something that is not a cursor");
      const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString("hex")}.tmp`);
      const handle = await open(temporary, "w", 0o600);
      try {
        await handle.writeFile(cursor + "\n");
        await handle.sync();
      } catch (error) {
        await handle.close();
        await rm(temporary, { force: true });
        throw error;
      }
      await handle.close();
      try {
        await rename(temporary, file);
      } catch (error) {
        await rm(temporary, { force: true });
        throw error;
      }
    },
  };
}

/** A cursor kept in memory: for tests, and for consumers that rebuild from scratch on start. */
export function memoryCursorStore(initial?: string): CursorStore & { readonly cursor: string | undefined } {
  let saved = initial;
  return {
    get cursor() {
      return saved;
    },
    async load() {
      return saved;
    },
    async save(cursor) {
      saved = cursor;
    },
  };
}
