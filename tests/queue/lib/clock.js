// The emulator's notion of "now".  Tests may move it forward (admin API) to
// reach claim expiry or deadlines without sleeping; everything the Queue
// decides (takenUntil, deadlines, certificate start/expiry, artifact expiry)
// reads this clock.  Hawk's timestamp check alone uses the real clock, because
// the clients signing requests live in real time.
export class Clock {
  constructor() {
    this.offsetMs = 0;
  }

  now() {
    return Date.now() + this.offsetMs;
  }

  date() {
    return new Date(this.now());
  }

  advance(ms) {
    if (!Number.isFinite(ms) || ms < 0) {
      throw new Error(`clock: advance must be a non-negative number of ms, got ${ms}`);
    }
    this.offsetMs += ms;
  }

  // Tests may also set the offset outright (0 returns to real time).  Moving
  // back is allowed for test isolation; state already changed stays changed.
  setOffset(ms) {
    if (!Number.isFinite(ms)) {
      throw new Error(`clock: offsetMs must be a number of ms, got ${ms}`);
    }
    this.offsetMs = ms;
  }
}

// Postgres JSONB renders timestamptz as "2023-11-14T22:33:20.123+00:00"; the
// real Queue passes claimWork's top-level takenUntil through in that form.
export const pgTimestamp = (ms) => new Date(ms).toJSON().replace(/Z$/, '+00:00');
