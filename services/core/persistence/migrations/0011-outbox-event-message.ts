import { Migration } from "@mikro-orm/migrations";

// The outbox stores the published contract: each row keeps its roster.events.v1.Event,
// encoded when the change is written (position 0: it is assigned at publication and added
// to the message then). The relay sends these bytes as they are; EventService decodes them.
// `payload` stays: SQL reads it (the leavers of a range). Rows written before this migration
// have no message and are encoded from their payload when read, until the replay window
// prunes them.
export class Migration0011OutboxEventMessage extends Migration {
  override name = "0011-outbox-event-message";

  override up(): void {
    this.addSql(`ALTER TABLE outbox_events ADD COLUMN event bytea`);
  }
}
