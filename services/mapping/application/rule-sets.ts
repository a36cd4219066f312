// Compiled rule sets by (directory, version). Versions are immutable, so a compiled set is
// cached for as long as it is in use (bounded, least recently used out).
import type { Repositories } from "../../core/application/store.ts";
import { NotFoundError } from "../../core/domain/errors.ts";
import { compileRuleSet, type Mapper } from "../domain/evaluate.ts";
import type { RuleSet } from "../domain/model.ts";
import { presetFor } from "../domain/presets.ts";
import { effectiveRules } from "../domain/rules.ts";

const MAX_CACHED = 256;

export class RuleSets {
  private readonly cache = new Map<string, { set: RuleSet; mapper: Mapper }>();

  /** The rules of a directory at a version (0 with no saved row: the provider's preset). */
  async get(repos: Pick<Repositories, "mappings">, directoryId: string, version: number): Promise<{ set: RuleSet; mapper: Mapper }> {
    const key = `${directoryId}/${version}`;
    const hit = this.cache.get(key);
    if (hit) {
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit;
    }
    const stored = await repos.mappings.getVersion(directoryId, version);
    let set: RuleSet;
    if (stored) set = { rules: stored.rules, roleRules: stored.roleRules };
    else if (version === 0) {
      const provider = await repos.mappings.providerOf(directoryId);
      if (!provider) throw new NotFoundError(`directory ${directoryId} not found`);
      set = { rules: effectiveRules(presetFor(provider), []), roleRules: [] };
      // Not cached: until saved, version 0 follows the code's preset.
      return { set, mapper: compileRuleSet(set) };
    } else throw new Error(`mapping version ${version} of directory ${directoryId} is missing`);
    const entry = { set, mapper: compileRuleSet(set) };
    this.cache.set(key, entry);
    if (this.cache.size > MAX_CACHED) this.cache.delete(this.cache.keys().next().value!);
    return entry;
  }
}
