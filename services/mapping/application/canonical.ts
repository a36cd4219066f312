// The canonical user of every user event (the core's CanonicalProjector port), and the rule
// choice it shares with GetCanonicalUser: the directory's current mapping version, or, while
// a remap runs, the version each user was last announced under. Sharing one choice is what
// keeps a user version from ever having two canonical forms.
import type { CanonicalInput, CanonicalPayload, CanonicalProjector, CanonicalSpeculation } from "../../core/application/canonical.ts";
import type { GroupRef } from "../../core/domain/events.ts";
import type { Repositories } from "../../core/application/store.ts";
import type { GroupRecord, UserRecord } from "../../core/domain/resources.ts";
import { canonicalUser, type Mapper } from "../domain/evaluate.ts";
import type { CanonicalUser } from "../domain/model.ts";
import { announcedVersion } from "../domain/remap.ts";
import type { MappingState } from "./ports.ts";
import type { RuleSets } from "./rule-sets.ts";

const MAX_DIRECTORIES = 1024;

/** The rules a user's events are derived under. */
interface UserRules {
  readonly version: number;
  readonly mapper: Mapper;
}

export class CanonicalProjection implements CanonicalProjector {
  private readonly ruleSets: RuleSets;
  /**
   * Per directory, the current version and its compiled rules, as last read with no remap
   * running. A hint for `speculate` (the write re-checks it) and a cache for version 0, whose
   * rules are the provider's preset and have no stored row.
   */
  private readonly current = new Map<string, UserRules>();

  constructor(ruleSets: RuleSets) {
    this.ruleSets = ruleSets;
  }

  async canonical(repos: Repositories, directoryId: string, inputs: readonly CanonicalInput[]): Promise<CanonicalPayload[]> {
    if (inputs.length === 0) return [];
    const state = await repos.mappings.state(directoryId);
    const missing = [...new Set(inputs.filter((i) => i.groups === undefined).map((i) => i.user.id))];
    const loaded = missing.length > 0 ? await repos.memberships.groupRefsOf(missing) : new Map<string, GroupRecord[]>();
    const out: CanonicalPayload[] = [];
    for (const input of inputs) {
      const rules = await this.rulesIn(repos, directoryId, state, input.user.id);
      const groups = (input.groups ?? loaded.get(input.user.id) ?? []).map((g) => ({ id: g.id, externalId: g.externalId, displayName: g.displayName }));
      out.push(payload(canonicalUser(input.user, rules.mapper({ record: input.user, groups }).fields), rules.version));
    }
    return out;
  }

  speculate(directoryId: string, user: UserRecord, groups: readonly GroupRef[] = []): CanonicalSpeculation | undefined {
    const rules = this.current.get(directoryId);
    if (!rules) return undefined;
    const refs = groups.map((g) => ({ id: g.id, externalId: g.externalId, displayName: g.displayName }));
    return { payload: payload(canonicalUser(user, rules.mapper({ record: user, groups: refs }).fields), rules.version), mappingVersion: rules.version };
  }

  /** The rules of one user's latest events (one query, plus the rule set on a cache miss). */
  async rulesFor(repos: Pick<Repositories, "mappings">, directoryId: string, userId: string): Promise<UserRules> {
    return this.rulesIn(repos, directoryId, await repos.mappings.state(directoryId), userId);
  }

  private async rulesIn(repos: Pick<Repositories, "mappings">, directoryId: string, state: MappingState, userId: string): Promise<UserRules> {
    if (state.running) {
      this.current.delete(directoryId);
      const version = announcedVersion(state.running, userId);
      return { version, mapper: (await this.ruleSets.get(repos, directoryId, version)).mapper };
    }
    const known = this.current.get(directoryId);
    if (known?.version === state.version) return known;
    const rules = { version: state.version, mapper: (await this.ruleSets.get(repos, directoryId, state.version)).mapper };
    this.current.delete(directoryId);
    this.current.set(directoryId, rules);
    if (this.current.size > MAX_DIRECTORIES) this.current.delete(this.current.keys().next().value!);
    return rules;
  }
}

function payload(user: CanonicalUser, mappingVersion: number): CanonicalPayload {
  return { canonical: canonicalJson(user), mappingVersion };
}

/** The canonical user as event payload JSON (the raw resource is in the `user` snapshot). */
export function canonicalJson(user: CanonicalUser): Record<string, unknown> {
  const { raw: _raw, ...rest } = user;
  return { ...rest };
}
