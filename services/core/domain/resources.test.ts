// What counts as a change of a stored resource: the diff behind every user.updated event.
import { describe, expect, it } from "vitest";
import { changedAttributes, sameJson } from "./resources.ts";

describe("sameJson", () => {
  it("ignores key order and keys holding undefined, at every depth", () => {
    expect(sameJson({ a: 1, b: { c: [1, { d: "x", e: null }] } }, { b: { c: [1, { e: null, d: "x" }] }, a: 1 })).toBe(true);
    expect(sameJson({ a: 1, b: undefined }, { a: 1 })).toBe(true);
    expect(sameJson({ a: 1 }, { a: 1, b: undefined })).toBe(true);
  });

  it("tells apart values, types, lengths, missing keys and arrays from objects", () => {
    expect(sameJson({ a: 1 }, { a: "1" })).toBe(false);
    expect(sameJson({ a: null }, { a: {} })).toBe(false);
    expect(sameJson({ a: null }, {})).toBe(false);
    expect(sameJson([1, 2], [2, 1])).toBe(false);
    expect(sameJson([1], [1, 1])).toBe(false);
    expect(sameJson({ 0: "x" }, ["x"])).toBe(false);
    expect(sameJson({ a: 1, b: 2 }, { a: 1, c: 2 })).toBe(false);
    expect(sameJson(JSON.parse('{"__proto__": {"x": 1}}'), JSON.parse('{"__proto__": {"x": 2}}'))).toBe(false);
  });

  it("walks a 100,000-element array", () => {
    const big = Array.from({ length: 100_000 }, (_, i) => ({ value: `u${i}` }));
    expect(sameJson({ members: big }, { members: big.map((m) => ({ ...m })) })).toBe(true);
    expect(sameJson({ members: big }, { members: [...big.slice(0, -1), { value: "other" }] })).toBe(false);
  });
});

describe("changedAttributes", () => {
  it("names the top-level attributes whose values differ, sorted", () => {
    expect(changedAttributes({ userName: "a", active: true, name: { givenName: "A" } }, { active: false, userName: "a", name: { givenName: "B" }, title: "x" })).toEqual(["active", "name", "title"]);
  });
});
