import { Migration } from "@mikro-orm/migrations";

export class Migration0005ApiKeyDirectories extends Migration {
  override name = "0005-api-key-directories";

  override up(): void {
    // Empty: a global key, as every key was before.
    this.addSql(`ALTER TABLE api_keys ADD COLUMN directory_ids uuid[] NOT NULL DEFAULT '{}'`);
  }
}
