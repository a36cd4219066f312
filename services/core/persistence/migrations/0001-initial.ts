import { Migration } from "@mikro-orm/migrations";

export class Migration0001Initial extends Migration {
  override name = "0001-initial";

  override up(): void {
    this.addSql(`
      CREATE TABLE directories (
        id uuid PRIMARY KEY,
        name text NOT NULL,
        provider text NOT NULL,
        state text NOT NULL,
        strict boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      )`);
    this.addSql(`
      CREATE TABLE scim_tokens (
        id uuid PRIMARY KEY,
        directory_id uuid NOT NULL REFERENCES directories(id),
        name text NOT NULL,
        lookup text NOT NULL UNIQUE,
        secret_hash bytea NOT NULL,
        secret_prefix text NOT NULL,
        created_at timestamptz NOT NULL,
        last_used_at timestamptz,
        revoked_at timestamptz
      )`);
    this.addSql(`CREATE INDEX scim_tokens_directory ON scim_tokens (directory_id)`);
    this.addSql(`
      CREATE TABLE api_keys (
        id uuid PRIMARY KEY,
        name text NOT NULL,
        scope text NOT NULL,
        lookup text NOT NULL UNIQUE,
        secret_hash bytea NOT NULL,
        secret_prefix text NOT NULL,
        created_at timestamptz NOT NULL,
        last_used_at timestamptz,
        revoked_at timestamptz
      )`);
    this.addSql(`
      CREATE TABLE users (
        id uuid PRIMARY KEY,
        directory_id uuid NOT NULL REFERENCES directories(id),
        user_name text NOT NULL,
        external_id text,
        active boolean NOT NULL,
        state text NOT NULL,
        display_name text,
        resource jsonb NOT NULL,
        version bigint NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        deleted_at timestamptz
      )`);
    // userName is unique per directory among live users, compared case-insensitively
    // (RFC 7643: caseExact false); tombstones keep their name without blocking reuse.
    this.addSql(`CREATE UNIQUE INDEX users_directory_user_name ON users (directory_id, lower(user_name)) WHERE deleted_at IS NULL`);
    this.addSql(`CREATE INDEX users_directory_external_id ON users (directory_id, external_id)`);
    this.addSql(`CREATE INDEX users_directory_display_name ON users (directory_id, lower(display_name))`);
    this.addSql(`CREATE INDEX users_directory_created ON users (directory_id, created_at, id)`);
    this.addSql(`
      CREATE TABLE groups (
        id uuid PRIMARY KEY,
        directory_id uuid NOT NULL REFERENCES directories(id),
        display_name text NOT NULL,
        external_id text,
        resource jsonb NOT NULL,
        member_count bigint NOT NULL DEFAULT 0,
        version bigint NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        deleted_at timestamptz
      )`);
    this.addSql(`CREATE INDEX groups_directory_display_name ON groups (directory_id, lower(display_name))`);
    this.addSql(`CREATE INDEX groups_directory_external_id ON groups (directory_id, external_id)`);
    this.addSql(`CREATE INDEX groups_directory_created ON groups (directory_id, created_at, id)`);
    this.addSql(`
      CREATE TABLE memberships (
        group_id uuid NOT NULL REFERENCES groups(id),
        user_id uuid NOT NULL REFERENCES users(id),
        directory_id uuid NOT NULL,
        created_at timestamptz NOT NULL,
        PRIMARY KEY (group_id, user_id)
      )`);
    this.addSql(`CREATE INDEX memberships_user ON memberships (user_id, group_id)`);
    this.addSql(`
      CREATE TABLE outbox_events (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id uuid NOT NULL UNIQUE,
        directory_id uuid NOT NULL,
        subject_type text NOT NULL,
        subject_id uuid NOT NULL,
        sequence bigint NOT NULL,
        type text NOT NULL,
        payload jsonb NOT NULL,
        occurred_at timestamptz NOT NULL,
        txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
        position bigint UNIQUE,
        published_at timestamptz,
        UNIQUE (subject_id, sequence)
      )`);
    this.addSql(`CREATE INDEX outbox_events_unpublished ON outbox_events (seq) WHERE position IS NULL`);
    this.addSql(`CREATE INDEX outbox_events_directory_position ON outbox_events (directory_id, position) WHERE position IS NOT NULL`);
  }
}
