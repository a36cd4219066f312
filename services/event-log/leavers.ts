// Published leaver events between two positions, for revocation measurement: a FROM item
// named `leavers` (id, directory_id, subject_id, type, position, occurred_at). It walks the
// positions in the range (event_positions, by directory when one is named) and reads each
// row by key, so its cost follows the range, never the whole log. Which types count as
// leavers is the caller's (the consumers' domain) and is passed in.

export interface LeaverQuery {
  /** Types that are leavers whatever their payload (e.g. user.deactivated). */
  readonly types: readonly string[];
  /** A roles change is a leaver when it leaves no role where there were some. */
  readonly rolesDroppedType: string;
  /** SQL parameter placeholders: a uuid (NULL: every directory), and the positions. */
  readonly directory: string;
  readonly after: string;
  readonly through?: string;
}

const SAFE_TYPE = /^[a-z_.]+$/;
const PLACEHOLDER = /^\$\d+$/;

export function publishedLeavers(q: LeaverQuery): string {
  for (const t of [...q.types, q.rolesDroppedType]) if (!SAFE_TYPE.test(t)) throw new Error(`not an event type: ${t.slice(0, 40)}`);
  for (const p of [q.directory, q.after, q.through ?? "$0"]) if (!PLACEHOLDER.test(p)) throw new Error("leaver query parameters must be placeholders");
  const types = q.types.map((t) => `'${t}'`).join(", ");
  return `(SELECT o.id, o.directory_id, o.subject_id, o.type, p.position, o.occurred_at
       FROM event_positions p JOIN outbox_events o ON o.seq = p.seq
      WHERE (o.type IN (${types})
             OR (o.type = '${q.rolesDroppedType}' AND o.payload -> 'roles' = '[]'::jsonb AND o.payload -> 'rolesBefore' <> '[]'::jsonb))
        AND (${q.directory}::uuid IS NULL OR p.directory_id = ${q.directory}::uuid)
        AND p.position > ${q.after}::bigint ${q.through ? `AND p.position <= ${q.through}::bigint` : ""}) AS leavers`;
}
