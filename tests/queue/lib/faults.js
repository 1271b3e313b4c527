// Fault injection for reliability tests.  Rules are keyed by API method name
// ("claimWork"), "upload" (the putUrl targets), "download" (artifact bytes),
// "mirror" (the static mirror) or "*" (any of them without a rule of its own):
//
//   {"seed": 42, "rules": {"claimWork": {"errorRate": 0.5, "errorStatus": [500, 503],
//     "latencyMs": [10, 50], "dropRate": 0.1, "dropAfter": "headers", "maxFaults": 3}}}
//
// dropAfter says how much of the (already processed) reply gets out before
// the connection is cut: "nothing", "headers" or "body" (about half of it);
// "request-body" cuts the connection while the request body arrives, before
// anything is processed.  The other kinds (hang, HTML page, bad JSON body,
// truncated reply) are described in docs/queue.md.
//
// Each rule draws from its own PRNG seeded from (seed, key), so the sequence
// of faults one endpoint sees does not depend on traffic to the others and a
// run with the same seed and the same requests repeats exactly.

// mulberry32: a small, well-distributed 32-bit PRNG; enough for test faults.
export const mulberry32 = (seed) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

const hashKey = (seed, key) => {
  // FNV-1a over the key, mixed with the seed.
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (const ch of key) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
};

const RULE_KEYS = new Set(['errorRate', 'errorStatus', 'retryAfter', 'latencyMs', 'dropRate',
  'dropAfter', 'hangRate', 'htmlRate', 'badBodyRate', 'badBody', 'truncateRate', 'maxFaults']);

// The kinds added after the first version draw their values only when a rule
// uses one of them, so the fault sequence of an older configuration and seed
// stays exactly what it was.
const EXTRA_RATES = ['hangRate', 'htmlRate', 'badBodyRate', 'truncateRate'];
const DROP_MODES = ['nothing', 'headers', 'body', 'request-body'];

const checkRate = (key, name, v) => {
  if (v !== undefined && !(typeof v === 'number' && v >= 0 && v <= 1)) {
    throw new Error(`faults: rules.${key}.${name}: expected a number in [0, 1], got ${JSON.stringify(v)}`);
  }
};

// Validates a fault configuration and returns it normalised; throws with a
// message naming the bad field.
export const parseFaults = (config) => {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new Error('faults: expected a JSON object {"seed": N, "rules": {...}}');
  }
  for (const k of Object.keys(config)) {
    if (k !== 'seed' && k !== 'rules') {
      throw new Error(`faults: unknown key ${JSON.stringify(k)}`);
    }
  }
  const seed = config.seed === undefined ? 0 : config.seed;
  if (!Number.isInteger(seed)) {
    throw new Error(`faults: seed: expected an integer, got ${JSON.stringify(seed)}`);
  }
  const rules = {};
  for (const [key, rule] of Object.entries(config.rules || {})) {
    if (typeof rule !== 'object' || rule === null) {
      throw new Error(`faults: rules.${key}: expected an object`);
    }
    for (const k of Object.keys(rule)) {
      if (!RULE_KEYS.has(k)) {
        throw new Error(`faults: rules.${key}: unknown key ${JSON.stringify(k)}`);
      }
    }
    for (const name of ['errorRate', 'dropRate', ...EXTRA_RATES]) {
      checkRate(key, name, rule[name]);
    }
    let statuses = rule.errorStatus === undefined ? [500] : rule.errorStatus;
    statuses = Array.isArray(statuses) ? statuses : [statuses];
    if (!statuses.length || !statuses.every((s) => Number.isInteger(s) && s >= 400 && s <= 599)) {
      throw new Error(`faults: rules.${key}.errorStatus: expected 4xx or 5xx status codes`);
    }
    if (rule.retryAfter !== undefined &&
        !(Number.isInteger(rule.retryAfter) && rule.retryAfter >= 0)) {
      throw new Error(`faults: rules.${key}.retryAfter: expected a non-negative integer ` +
        `(seconds), got ${JSON.stringify(rule.retryAfter)}`);
    }
    if (rule.badBody !== undefined && typeof rule.badBody !== 'string') {
      throw new Error(`faults: rules.${key}.badBody: expected a string, got ` +
        JSON.stringify(rule.badBody));
    }
    let latency = rule.latencyMs === undefined ? [0, 0] : rule.latencyMs;
    latency = Array.isArray(latency) ? latency : [latency, latency];
    if (latency.length !== 2 || !latency.every((n) => Number.isFinite(n) && n >= 0 && n <= 600000) ||
        latency[0] > latency[1]) {
      throw new Error(`faults: rules.${key}.latencyMs: expected ms or [min, max] with min <= max`);
    }
    const dropAfter = rule.dropAfter || 'body';
    if (!DROP_MODES.includes(dropAfter)) {
      throw new Error(`faults: rules.${key}.dropAfter: expected "nothing", "headers", "body" ` +
        'or "request-body"');
    }
    if (rule.maxFaults !== undefined && !(Number.isInteger(rule.maxFaults) && rule.maxFaults >= 0)) {
      throw new Error(`faults: rules.${key}.maxFaults: expected a non-negative integer`);
    }
    rules[key] = {
      errorRate: rule.errorRate || 0,
      errorStatus: statuses,
      latencyMs: latency,
      dropRate: rule.dropRate || 0,
      dropAfter,
      maxFaults: rule.maxFaults === undefined ? Infinity : rule.maxFaults,
    };
    if (rule.retryAfter !== undefined) {
      rules[key].retryAfter = rule.retryAfter;
    }
    for (const name of EXTRA_RATES) {
      if (rule[name]) {
        rules[key][name] = rule[name];
      }
    }
    if (rule.badBody !== undefined) {
      rules[key].badBody = rule.badBody;
    }
  }
  return { seed, rules };
};

export class Faults {
  constructor() {
    this.configure({ seed: 0, rules: {} });
    this.injected = {};
  }

  configure(config) {
    const parsed = parseFaults(config);
    this.config = parsed;
    this.state = new Map();
    for (const key of Object.keys(parsed.rules)) {
      this.state.set(key, { random: mulberry32(hashKey(parsed.seed, key)), faults: 0 });
    }
  }

  describe() {
    const rules = {};
    for (const [k, r] of Object.entries(this.config.rules)) {
      rules[k] = { ...r, maxFaults: r.maxFaults === Infinity ? null : r.maxFaults };
    }
    return { seed: this.config.seed, rules };
  }

  _count(key, kind) {
    this.injected[key] = this.injected[key] || { error: 0, drop: 0, latency: 0 };
    this.injected[key][kind] = (this.injected[key][kind] || 0) + 1;
  }

  // Decides the fate of one request to `key`: {latencyMs, error (a status),
  // retryAfter, drop (a dropAfter mode), hang, html, badBody (the body to
  // send), truncate}, at most one fault per request.  A rule always draws
  // the same number of values per request, so the decisions stay aligned
  // with the seed.
  decide(key) {
    const ruleKey = key in this.config.rules ? key : '*' in this.config.rules ? '*' : null;
    const fate = { latencyMs: 0, error: null, drop: null, hang: false, html: false,
      badBody: null, truncate: false };
    if (!ruleKey) {
      return fate;
    }
    const rule = this.config.rules[ruleKey];
    const st = this.state.get(ruleKey);
    const [r1, r2, r3, r4] = [st.random(), st.random(), st.random(), st.random()];
    const [lo, hi] = rule.latencyMs;
    const latencyMs = Math.round(lo + (hi - lo) * r1);
    const extra = EXTRA_RATES.some((name) => rule[name])
      ? EXTRA_RATES.map(() => st.random()) : null;
    fate.latencyMs = latencyMs;
    if (st.faults < rule.maxFaults && r2 < rule.errorRate) {
      fate.error = rule.errorStatus[Math.floor(r3 * rule.errorStatus.length)];
      if (rule.retryAfter !== undefined) {
        fate.retryAfter = rule.retryAfter;
      }
      st.faults += 1;
      this._count(key, 'error');
    } else if (st.faults < rule.maxFaults && r4 < rule.dropRate) {
      fate.drop = rule.dropAfter;
      st.faults += 1;
      this._count(key, 'drop');
    } else if (extra && st.faults < rule.maxFaults) {
      const i = EXTRA_RATES.findIndex((name, n) => extra[n] < (rule[name] || 0));
      if (i !== -1) {
        const kind = ['hang', 'html', 'badBody', 'truncate'][i];
        fate[kind] = kind === 'badBody' ? (rule.badBody === undefined ? '{}' : rule.badBody) : true;
        st.faults += 1;
        this._count(key, kind);
      }
    }
    if (latencyMs > 0) {
      this._count(key, 'latency');
    }
    return fate;
  }
}
