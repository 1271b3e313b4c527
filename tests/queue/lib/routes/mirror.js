// A static mirror standing in for hg.mozilla.org, raw.githubusercontent.com
// and api.github.com, so chain-of-trust tests read their remote inputs
// (.taskcluster.yml, json-pushes, projects.yml, GitHub API JSON) from
// loopback.  Tests store entries through the admin API; GET /__mirror/<key>
// answers them.  The key is the path and the query string exactly as sent
// (no decoding, no reordering), because the URLs the worker builds are what
// a test wants to pin down.  Entries live in memory only.

export const MIRROR_PREFIX = '/__mirror';

export class MirrorRoutes {
  constructor() {
    this.entries = new Map();
  }

  match(path) {
    return path === MIRROR_PREFIX || path.startsWith(MIRROR_PREFIX + '/');
  }

  // The key of a raw request URL below `prefix` ("/__mirror" or
  // "/__admin/mirror"): "/hg/x?changeset=abc" for "/__mirror/hg/x?changeset=abc".
  static keyOf(rawUrl, prefix) {
    const key = rawUrl.slice(prefix.length);
    return key.startsWith('/') ? key : '/' + key;
  }

  put(key, { body, contentType, contentEncoding, status }) {
    this.entries.set(key, { body, contentType, contentEncoding, status });
  }

  clear() {
    const n = this.entries.size;
    this.entries.clear();
    return n;
  }

  list() {
    return [...this.entries].map(([key, e]) => ({ key, status: e.status,
      contentType: e.contentType, contentEncoding: e.contentEncoding || null,
      size: e.body.length }));
  }

  handle(req, res, rawUrl) {
    req.resume();
    const text = (status, message) => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8',
        'content-length': Buffer.byteLength(message) });
      res.end(req.method === 'HEAD' ? undefined : message);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      text(405, 'method not allowed');
      return;
    }
    const entry = this.entries.get(MirrorRoutes.keyOf(rawUrl, MIRROR_PREFIX));
    if (!entry) {
      text(404, 'not found');
      return;
    }
    const headers = { 'content-type': entry.contentType, 'content-length': entry.body.length };
    if (entry.contentEncoding) {
      headers['content-encoding'] = entry.contentEncoding;
    }
    res.writeHead(entry.status, headers);
    res.end(req.method === 'HEAD' ? undefined : entry.body);
  }
}
