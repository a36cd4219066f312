// Capped exponential backoff with full jitter, and an abortable sleep.

export interface BackoffOptions {
  /** First delay's upper bound, in ms. */
  initialMs?: number;
  /** Upper bound of any delay, in ms. */
  maxMs?: number;
  /** Growth per attempt; default 2. */
  multiplier?: number;
  /** "full" (default): uniform in [0, bound]; "none": exactly the bound (tests, mostly). */
  jitter?: "full" | "none";
}

/** The delay before retry number `attempt` (0-based). */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const initial = options.initialMs ?? 200;
  const max = options.maxMs ?? 10_000;
  const bound = Math.min(max, initial * (options.multiplier ?? 2) ** attempt);
  return options.jitter === "none" ? bound : Math.random() * bound;
}

/** Resolves after ms, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
