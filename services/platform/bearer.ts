// The secret of an `authorization: Bearer <secret>` header (RFC 6750), for every entry point.

export function bearer(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}
