// Listing options (SCIM filter, sort, paging) parsed into a query, and the next page's token.
import { checkId } from "../domain/directory.ts";
import { InvalidInputError } from "../domain/errors.ts";
import { checkPageSize, decodePageToken, encodePageToken } from "../domain/paging.ts";
import type { AttrRef } from "../../platform/scim/ast.ts";
import { parseAttributeList, parseFilter } from "../../platform/scim/filter.ts";

export interface ListOptions {
  readonly filter: string;
  readonly pageSize: number;
  readonly pageToken: string;
  /** 1-based; 0 means unused. */
  readonly startIndex: number;
  readonly sortBy: string;
  readonly descending: boolean;
}

export interface Listed<T> {
  readonly items: T[];
  readonly total: number;
  readonly nextPageToken: string;
  /** 1-based index of the first item (SCIM startIndex). */
  readonly startIndex: number;
}

const MAX_FILTER_LENGTH = 4096;

export function tokenString(pageToken: string, field: string): string {
  const value = decodePageToken(pageToken)[field];
  if (typeof value !== "string") throw new InvalidInputError("invalidValue", "page_token is not one this service issued");
  return value;
}

/** Parses the listing options into a query, and says how to make the next page's token. */
export function listQuery(options: ListOptions, lenient: boolean, includeDeleted: boolean) {
  if (options.filter.length > MAX_FILTER_LENGTH) throw new InvalidInputError("invalidFilter", `filter must be at most ${MAX_FILTER_LENGTH} characters`);
  const filter = options.filter.trim() === "" ? undefined : parseFilter(options.filter, { lenient });
  let sortBy: AttrRef | undefined;
  if (options.sortBy.trim() !== "") {
    const refs = parseAttributeList(options.sortBy);
    if (refs.length !== 1) throw new InvalidInputError("invalidValue", "sortBy must name one attribute");
    sortBy = refs[0];
  }
  const limit = checkPageSize(options.pageSize, 100, 1000);
  if (options.startIndex < 0) throw new InvalidInputError("invalidValue", "start_index must be 1 or more");
  if (options.startIndex > 0 && options.pageToken !== "") throw new InvalidInputError("invalidValue", "use either a page token or a start index, not both");
  let offset = options.startIndex > 0 ? options.startIndex - 1 : 0;
  let afterId: string | undefined;
  if (options.pageToken !== "") {
    const token = decodePageToken(options.pageToken);
    if (typeof token.after === "string" && !sortBy) afterId = checkId("page_token", token.after);
    else if (typeof token.offset === "number" && Number.isInteger(token.offset) && token.offset >= 0) offset = token.offset;
    else throw new InvalidInputError("invalidValue", "page_token is not one this service issued");
  }
  const query = { filter, sortBy, descending: options.descending, afterId, offset, limit, includeDeleted };
  // Unsorted listings page by id (stable under inserts); sorted ones by position.
  const next = (items: Array<{ id: string }>, more: boolean): string => {
    if (!more || items.length === 0) return "";
    return sortBy || options.startIndex > 0 ? encodePageToken({ offset: offset + items.length }) : encodePageToken({ after: items.at(-1)!.id });
  };
  return { query, next };
}
