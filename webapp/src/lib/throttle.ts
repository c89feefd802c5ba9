// Coalescing throttle: runs fn at most once per interval, on the leading edge
// and once more on the trailing edge if calls came in meanwhile, so the last
// call is never lost. Used to refresh the recent-orders table on pushes.

export interface Throttled {
  /** Request a run. */
  call(): void
  /** Drop any pending trailing run. */
  cancel(): void
}

export function throttle(fn: () => void, intervalMs: number, now: () => number = Date.now): Throttled {
  let last = Number.NEGATIVE_INFINITY
  let timer: ReturnType<typeof setTimeout> | null = null

  const run = () => {
    timer = null
    last = now()
    fn()
  }

  return {
    call() {
      if (timer !== null) return // a trailing run is already scheduled
      const wait = last + intervalMs - now()
      if (wait <= 0) run()
      else timer = setTimeout(run, wait)
    },
    cancel() {
      if (timer !== null) clearTimeout(timer)
      timer = null
    },
  }
}
