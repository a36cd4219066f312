import { Migration } from "@mikro-orm/migrations";

// Subjects the relay parked: the broker refused one of their events for good (too large,
// invalid record), so that event and the subject's later ones wait here, unpublished, while
// every other subject's events keep flowing. An operator re-sends them with
// `roster outbox unpark` after fixing the cause (deleting the row is all it takes).
export class Migration0006RelayParking extends Migration {
  override name = "0006-relay-parking";

  override up(): void {
    this.addSql(`
      CREATE TABLE relay_parked_subjects (
        subject_id uuid PRIMARY KEY,
        subject_type text NOT NULL,
        directory_id uuid NOT NULL,
        event_id uuid NOT NULL,
        sequence bigint NOT NULL,
        type text NOT NULL,
        reason text NOT NULL,
        parked_at timestamptz NOT NULL DEFAULT now()
      )`);
    // The lag gauges read the age of the oldest unpublished event at every scrape, from any
    // process: an index walk, whatever the size of the published history.
    this.addSql(`CREATE INDEX outbox_events_unpublished_age ON outbox_events (occurred_at) WHERE position IS NULL`);
  }
}
