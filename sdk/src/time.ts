// Dates where the contract has google.protobuf.Timestamp: options take either.
import { isMessage } from "@bufbuild/protobuf";
import { TimestampSchema, timestampDate, timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";

/** A Timestamp from a Date (or the Timestamp itself); undefined stays undefined. */
export function toTimestamp(value: Date | Timestamp | undefined): Timestamp | undefined {
  if (value === undefined) return undefined;
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new RangeError("invalid Date");
    return timestampFromDate(value);
  }
  if (isMessage(value, TimestampSchema)) return value;
  throw new TypeError("expected a Date or a google.protobuf.Timestamp");
}

/** A Date from a Timestamp; undefined stays undefined. */
export function toDate(value: Timestamp | undefined): Date | undefined {
  return value === undefined ? undefined : timestampDate(value);
}
