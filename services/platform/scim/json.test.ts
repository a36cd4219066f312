// Copies of JSON values that stay data, whatever keys a body carries.
import { describe, expect, it } from "vitest";
import { cloneJson } from "./json.ts";

describe("cloneJson", () => {
  it("copies deeply: the copy shares nothing with the original", () => {
    const original = { a: [1, { b: "x" }], c: { d: null, e: true } };
    const copy = cloneJson(original);
    expect(copy).toEqual(original);
    (copy.a[1] as { b: string }).b = "changed";
    expect((original.a[1] as { b: string }).b).toBe("x");
  });

  it("keeps a __proto__ key as data, not as the copy's prototype", () => {
    const copy = cloneJson(JSON.parse('{"__proto__": {"polluted": true}, "userName": "x"}'));
    expect(Object.keys(copy)).toEqual(["__proto__", "userName"]);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect((copy as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("copies a 100,000-element array", () => {
    const big = Array.from({ length: 100_000 }, (_, i) => ({ value: `u${i}` }));
    expect(cloneJson({ members: big }).members).toHaveLength(100_000);
  });
});
