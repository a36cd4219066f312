import { Migration } from "@mikro-orm/migrations";

// How far the replay-window cleanup has deleted each directory's events: the highest
// position and the latest occurrence time deleted. EventService compares a cursor (or a
// start_time) with it, so a reader whose next events were deleted is told so instead of
// silently resuming after the hole.
export class Migration0007EventFloors extends Migration {
  override name = "0007-event-floors";

  override up(): void {
    this.addSql(`
      CREATE TABLE event_log_floors (
        directory_id uuid PRIMARY KEY,
        pruned_through bigint NOT NULL,
        pruned_occurred_at timestamptz NOT NULL
      )`);
  }
}
