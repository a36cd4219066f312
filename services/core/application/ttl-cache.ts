// A small cache whose entries expire after a fixed time; concurrent misses for one key
// share a single load. Bounded: the oldest entries go first when it is full.
const MAX_ENTRIES = 10_000;

export class TtlCache<V> {
  private readonly ttlMs: number;
  private readonly entries = new Map<string, { value: Promise<V>; expires: number }>();

  constructor(ttlMs: number) {
    this.ttlMs = ttlMs;
  }

  get(key: string, load: () => Promise<V>, now: number = performance.now()): Promise<V> {
    const hit = this.entries.get(key);
    if (hit && hit.expires > now) return hit.value;
    const value = load();
    this.entries.set(key, { value, expires: now + this.ttlMs });
    if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    // A failed load is not cached.
    value.catch(() => this.entries.delete(key));
    return value;
  }

  clear(): void {
    this.entries.clear();
  }
}
