// The durable cursor store: atomic replacement, and a damaged file stops the consumer
// instead of silently starting it over.
import { mkdtemp, mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CursorStoreError, fileCursorStore, memoryCursorStore } from "./cursor-store.ts";

const dir = await mkdtemp(path.join(tmpdir(), "roster-cursor-"));
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("fileCursorStore", () => {
  it("has no cursor before the first save, then the last one saved", async () => {
    const store = fileCursorStore(path.join(dir, "fresh"));
    expect(await store.load()).toBeUndefined();
    await store.save("eyJwIjoiMSJ9");
    await store.save("eyJwIjoiMiJ9");
    expect(await store.load()).toBe("eyJwIjoiMiJ9");
    expect(await fileCursorStore(path.join(dir, "fresh")).load()).toBe("eyJwIjoiMiJ9");
  });

  it("replaces the file by rename (a new inode, no temporary left behind), never rewriting it in place", async () => {
    const file = path.join(dir, "atomic");
    const store = fileCursorStore(file);
    await store.save("first");
    const before = await stat(file);
    await store.save("second");
    const after = await stat(file);
    expect(after.ino).not.toBe(before.ino);
    expect(await readdir(dir)).not.toContainEqual(expect.stringMatching(/\.tmp$/));
    expect((await readFile(file, "utf8")).trim()).toBe("second");
  });

  it("refuses a damaged or unreadable file instead of starting over", async () => {
    const damaged: Array<[string, string]> = [
      ["empty", ""],
      ["torn", "eyJwIjoi\u0000\u0000"],
      ["garbage", "not a cursor at all"],
      ["huge", "a".repeat(100_000)],
    ];
    for (const [name, content] of damaged) {
      const file = path.join(dir, name);
      await writeFile(file, content);
      await expect(fileCursorStore(file).load(), name).rejects.toBeInstanceOf(CursorStoreError);
    }
    // A directory where the file should be: a read error other than "does not exist".
    const notAFile = path.join(dir, "directory");
    await mkdir(notAFile);
    await expect(fileCursorStore(notAFile).load()).rejects.toThrow(/cannot read the cursor file/);
    // The message names the file and the size, never the content.
    await expect(fileCursorStore(path.join(dir, "garbage")).load()).rejects.not.toThrow(/not a cursor at all/);
  });

  it("refuses to save what is not a cursor", async () => {
    await expect(fileCursorStore(path.join(dir, "bad-save")).save("two\nlines")).rejects.toBeInstanceOf(CursorStoreError);
  });
});

describe("memoryCursorStore", () => {
  it("keeps the last cursor", async () => {
    const store = memoryCursorStore();
    expect(await store.load()).toBeUndefined();
    await store.save("c1");
    expect(store.cursor).toBe("c1");
  });
});
