// Conversions of the message types every service's API shares (provider kinds, timestamps,
// expected versions): the core's transport and the mapping module's both use them.
import { timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { ProviderKind as PbProviderKind } from "@roster/sdk/gen/roster/directory/v1/directory_pb.js";
import type { ProviderKind } from "../core/domain/directory.ts";
import { InvalidInputError } from "../core/domain/errors.ts";

const PROVIDERS: ReadonlyArray<[ProviderKind, PbProviderKind]> = [
  ["okta", PbProviderKind.OKTA],
  ["entra", PbProviderKind.ENTRA],
  ["google", PbProviderKind.GOOGLE],
  ["onelogin", PbProviderKind.ONELOGIN],
  ["jumpcloud", PbProviderKind.JUMPCLOUD],
  ["generic", PbProviderKind.GENERIC],
];

export function providerFromPb(value: PbProviderKind): ProviderKind {
  const found = PROVIDERS.find(([, pb]) => pb === value);
  if (!found) throw new InvalidInputError("invalidValue", "provider must be set (okta, entra, google, onelogin, jumpcloud or generic)");
  return found[0];
}

export function providerToPb(value: ProviderKind): PbProviderKind {
  return PROVIDERS.find(([kind]) => kind === value)![1];
}

export function optionalTime(value: Date | null | undefined): Timestamp | undefined {
  return value ? timestampFromDate(value) : undefined;
}

export function expectedVersionFromPb(value: bigint | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidInputError("invalidValue", "expected_version is out of range");
  return Number(value);
}
