// Which rules a user was last announced under while a remap is under way. A remap walks a
// directory's users in id order; users at or below its cursor are derived under its target
// version, the others still under the version they had before. When a newer change takes
// over a running job, the newer job inherits that split as its starting point ("segments"),
// so no user is compared against rules it was never announced under.

/** Users with id <= upTo (or every remaining user, when upTo is null) are at `version`. */
export interface Segment {
  readonly upTo: string | null;
  readonly version: number;
}

interface JobPosition {
  readonly fromSegments: readonly Segment[];
  readonly toVersion: number;
  /** The last user id processed; null before the first batch. */
  readonly cursor: string | null;
}

/** The version a user's current events were derived under, given the running job. */
export function announcedVersion(job: JobPosition, userId: string): number {
  if (job.cursor !== null && userId <= job.cursor) return job.toVersion;
  return fromVersion(job.fromSegments, userId);
}

export function fromVersion(segments: readonly Segment[], userId: string): number {
  for (const s of segments) if (s.upTo === null || userId <= s.upTo) return s.version;
  throw new Error("segments must end with an open segment");
}

/** The starting point of a job that takes over from a running one. */
export function supersede(job: JobPosition): Segment[] {
  const rest = job.fromSegments.filter((s) => s.upTo === null || job.cursor === null || s.upTo > job.cursor);
  return job.cursor === null ? rest : [{ upTo: job.cursor, version: job.toVersion }, ...rest];
}
