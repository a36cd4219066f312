// A Group's `members` as a SCIM request names them. Members are users only: nested groups
// are refused, by the facade reading a POST or PUT and by the core changing members.
import { ScimRequestError } from "./errors.ts";
import { excerpt } from "../text.ts";

export function nestedGroupMessage(id: string): string {
  return `member ${excerpt(id)} is a group: nested groups are not supported, members must be users`;
}

/** The ids named by a SCIM `members` array (`[{ "value": id }]`). */
export function memberIdsOf(raw: unknown): string[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw new ScimRequestError("invalidValue", "members must be an array");
  return raw.map((member, i) => {
    const m = typeof member === "object" && member !== null ? (member as Record<string, unknown>) : undefined;
    if (typeof m?.value !== "string" || m.value === "") throw new ScimRequestError("invalidValue", `members[${i}].value must be a user id`);
    if (m.type === "Group") throw new ScimRequestError("invalidValue", nestedGroupMessage(m.value));
    return m.value;
  });
}
