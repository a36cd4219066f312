import { describe, expect, it } from "vitest";
import { NotFoundError } from "./errors.ts";
import { boundedMessage, excerpt, MAX_ERROR_MESSAGE, quote } from "../../platform/text.ts";

describe("error messages", () => {
  it("cut client input to 100 characters with an ellipsis, and leave short input alone", () => {
    expect(excerpt("abc")).toBe("abc");
    expect(excerpt("x".repeat(100))).toBe("x".repeat(100));
    expect(excerpt("x".repeat(100_000))).toBe(`${"x".repeat(100)}…`);
    expect(quote(`a"b${"y".repeat(200)}`)).toBe(JSON.stringify(`a"b${"y".repeat(97)}…`));
  });

  it("never split a surrogate pair, so the message can be percent-encoded into a header", () => {
    const cut = excerpt(`${"x".repeat(99)}😀😀`);
    expect(cut).toBe(`${"x".repeat(99)}…`);
    expect(() => encodeURIComponent(cut)).not.toThrow();
    expect(() => encodeURIComponent(boundedMessage("😀".repeat(1000)))).not.toThrow();
  });

  it("bound every domain error's message", () => {
    const e = new NotFoundError(`user ${"z".repeat(100_000)} not found`);
    expect(e.message.length).toBeLessThanOrEqual(MAX_ERROR_MESSAGE + 1);
  });
});
