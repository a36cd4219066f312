// JSON for logs: JSON.stringify throws on bigint (sequence, position, version are int64),
// so this form turns Roster's messages into their canonical proto3 JSON (int64 as strings,
// timestamps as RFC 3339, enums by name) and any other bigint into a string.
import { createRegistry, isMessage, toJson, type Message } from "@bufbuild/protobuf";
import { file_roster_directory_v1_directory } from "./gen/roster/directory/v1/directory_pb.js";
import { file_roster_events_v1_events } from "./gen/roster/events/v1/events_pb.js";
import { file_roster_mapping_v1_mapping } from "./gen/roster/mapping/v1/mapping_pb.js";

const registry = createRegistry(file_roster_directory_v1_directory, file_roster_events_v1_events, file_roster_mapping_v1_mapping);

/** A JSON-safe copy of a value: messages as proto3 JSON, bigints as strings. */
export function toJsonValue(value: unknown): unknown {
  return JSON.parse(toJsonString(value));
}

/** JSON text of a value, safe for bigints and Roster messages at any depth. */
export function toJsonString(value: unknown, space?: number): string {
  return JSON.stringify(value, replacer, space) ?? "null";
}

function replacer(this: unknown, _key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (isMessage(value)) {
    const schema = registry.getMessage((value as Message).$typeName);
    if (schema) return toJson(schema, value as never, { registry });
  }
  return value;
}
