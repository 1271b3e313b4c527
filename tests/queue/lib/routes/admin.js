// Test-only admin API under /__admin/: plain JSON over HTTP, so the Lua
// integration tests can drive it with a curl-like request.  Every call needs
// "Authorization: Bearer <admin token>" (--admin-token); without a configured
// token the admin API is disabled.  Errors are {"error": message}.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { ApiError, renderTemplate } from '../errors.js';
import { nice as slugid } from '../slugid.js';
import { MirrorRoutes } from './mirror.js';

const DAY = 24 * 60 * 60 * 1000;
const RESOLUTIONS = {
  completed: ['completed'],
  failed: ['failed'],
  exception: ['malformed-payload', 'worker-shutdown', 'resource-unavailable', 'internal-error',
    'superseded', 'intermittent-task'],
};

// The calls whose body is raw bytes to store rather than JSON.
const rawBody = (method, path) => method === 'PUT' &&
  (path.startsWith('/__admin/artifacts/') || path.startsWith('/__admin/mirror/'));

// Path segments decoded where they can be; a malformed escape stays as sent.
const decodeSegment = (seg) => {
  try {
    return decodeURIComponent(seg);
  } catch {
    return seg;
  }
};

class AdminError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export class AdminRoutes {
  constructor({ server }) {
    this.server = server;
  }

  match(path) {
    return path === '/__admin' || path.startsWith('/__admin/');
  }

  // Seeded artifacts may be as large as uploads; JSON calls keep the API limit.
  bodyLimit(method, path) {
    const o = this.server.options;
    return rawBody(method, path) ? o.maxArtifactBytes : o.maxBodyBytes;
  }

  _authorized(req) {
    const token = this.server.options.adminToken;
    const header = req.headers.authorization || '';
    const given = header.startsWith('Bearer ') ? header.slice(7) : '';
    return Boolean(token) && given.length === token.length &&
      crypto.timingSafeEqual(Buffer.from(given), Buffer.from(token));
  }

  // Fills in what a test rarely cares about, then validates like createTask.
  _taskDefinition(input) {
    const now = this.server.clock.now();
    const def = {
      created: new Date(now).toJSON(),
      deadline: new Date(now + DAY).toJSON(),
      payload: {},
      metadata: {
        name: 'emulator task',
        description: 'created through the queue emulator admin API',
        owner: 'queue-emulator@example.com',
        source: 'https://github.com/mozilla-releng/scriptworker',
      },
      ...input,
    };
    const error = this.server.schemas.validate('request',
      this.server.schemas.idFor('queue', 'v1/create-task-request.json#'), def);
    if (error) {
      throw new AdminError(400, error.trim());
    }
    return def;
  }

  // {workerGroup, workerId, state, reason} of POST tasks/<taskId>/complete.
  _resolution(body) {
    const state = body.state === undefined ? 'completed' : body.state;
    if (!(state in RESOLUTIONS)) {
      throw new AdminError(400, 'complete: state must be "completed", "failed" or "exception", ' +
        `got ${JSON.stringify(state)}`);
    }
    const reason = body.reason === undefined ? RESOLUTIONS[state][0] : body.reason;
    if (!RESOLUTIONS[state].includes(reason)) {
      throw new AdminError(400, `complete: reason for ${state} must be one of ` +
        `${RESOLUTIONS[state].join(', ')}, got ${JSON.stringify(reason)}`);
    }
    const id = /^([a-zA-Z0-9-_]{1,38})$/;
    const workerGroup = body.workerGroup === undefined ? 'emulator' : body.workerGroup;
    const workerId = body.workerId === undefined ? 'admin' : body.workerId;
    for (const [k, v] of [['workerGroup', workerGroup], ['workerId', workerId]]) {
      if (typeof v !== 'string' || !id.test(v)) {
        throw new AdminError(400, `complete: ${k} must match ${id}, got ${JSON.stringify(v)}`);
      }
    }
    return { workerGroup, workerId, state, reason };
  }

  _json(res, status, body) {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  // body: the request body as a Buffer; rawUrl: the URL with its query.
  async handle(req, res, path, bodyBuffer, rawUrl) {
    try {
      if (!this.server.options.adminToken) {
        throw new AdminError(403, 'admin API disabled: start the server with --admin-token');
      }
      if (!this._authorized(req)) {
        throw new AdminError(401, 'admin API: missing or wrong "Authorization: Bearer <token>"');
      }
      let body = {};
      if (rawBody(req.method, path)) {
        body = bodyBuffer;
      } else if (bodyBuffer.length) {
        try {
          body = JSON.parse(bodyBuffer.toString('utf8'));
        } catch (err) {
          throw new AdminError(400, `admin API: body is not JSON: ${err.message}`);
        }
      }
      const qi = rawUrl.indexOf('?');
      const query = new URLSearchParams(qi === -1 ? '' : rawUrl.slice(qi + 1));
      const result = await this._route(req.method, path, body, res, { req, rawUrl, query });
      if (result !== undefined) {
        this._json(res, 200, result);
      }
    } catch (err) {
      if (err instanceof AdminError) {
        this._json(res, err.status, { error: err.message });
      } else if (err instanceof ApiError) {
        this._json(res, err.status, { error: renderTemplate(err.message, err.details), code: err.code });
      } else {
        this.server.log(`admin: ${req.method} ${path}: ${err.stack || err}`);
        this._json(res, 500, { error: String(err.message || err) });
      }
    }
  }

  async _route(method, path, body, res, { req, rawUrl, query }) {
    const srv = this.server;
    const { queue, store } = srv;
    const parts = path.split('/').slice(2).map(decodeSegment);
    const route = `${method} ${parts[0] || ''}`;
    switch (route) {
      case 'GET stats':
        return srv.stats();
      case 'GET faults':
        return srv.faults.describe();
      case 'POST faults':
        try {
          srv.faults.configure(body);
        } catch (err) {
          throw new AdminError(400, err.message);
        }
        return srv.faults.describe();
      case 'DELETE faults':
        srv.faults.configure({ seed: 0, rules: {} });
        return srv.faults.describe();
      case 'GET time':
        return { now: new Date(srv.clock.now()).toJSON(), offsetMs: srv.clock.offsetMs };
      case 'POST time':
        try {
          if (body.offsetMs !== undefined) {
            srv.clock.setOffset(body.offsetMs);
          } else {
            srv.clock.advance(body.advanceMs);
          }
        } catch (err) {
          throw new AdminError(400, err.message);
        }
        queue.tick();
        return { now: new Date(srv.clock.now()).toJSON(), offsetMs: srv.clock.offsetMs };
      case 'POST tick':
        queue.tick();
        return { now: new Date(srv.clock.now()).toJSON() };
      case 'POST clients': {
        const { clientId, accessToken, scopes } = body;
        if (typeof clientId !== 'string' || typeof accessToken !== 'string' ||
            !Array.isArray(scopes)) {
          throw new AdminError(400, 'clients: expected {clientId, accessToken, scopes[, expires, disabled]}');
        }
        srv.clients.set(clientId, { clientId, accessToken, scopes, expires: body.expires,
          disabled: Boolean(body.disabled) });
        return { clientId };
      }
      case 'GET tasks':
        if (parts.length === 1) {
          return { tasks: queue.summary() };
        }
        if (parts.length === 2) {
          const task = queue.getTask(parts[1]);
          return {
            task: queue.definition(task),
            status: queue.status(task),
            artifacts: task.artifacts.map((m) => [...m.values()].map((a) => ({
              storageType: a.storageType, name: a.name, contentType: a.contentType,
              expires: a.expires, present: a.present, details: a.details }))),
          };
        }
        break;
      case 'POST tasks': {
        if (parts.length === 3 && parts[2] === 'cancel') {
          const task = queue.getTask(parts[1]);
          return { status: queue.cancel(task.taskId, () => {}) };
        }
        if (parts.length === 3 && parts[2] === 'complete') {
          return { status: queue.forceResolve(parts[1], this._resolution(body)) };
        }
        if (parts.length > 2) {
          break;
        }
        const taskId = parts[1] || slugid();
        const def = this._taskDefinition(body);
        return { taskId, status: queue.createTask(taskId, def, () => {}) };
      }
      case 'GET artifacts': {
        // /__admin/artifacts/<taskId>/<runId>/<name...>: stored bytes, no auth.
        if (parts.length < 4) {
          break;
        }
        const [, taskId, runId] = parts;
        const name = parts.slice(3).join('/');
        const task = queue.getTask(taskId);
        const artifact = task.artifacts[Number(runId)] && task.artifacts[Number(runId)].get(name);
        if (!artifact) {
          throw new AdminError(404, `no artifact ${name} on ${taskId}/${runId}`);
        }
        const blob = artifact.storageType === 's3'
          ? store.s3.get(`${artifact.details.bucket}/${artifact.details.prefix}`)
          : artifact.storageType === 'object'
            ? (store.objects.get(`t/${taskId}/${runId}/${name}`) || {}).blob
            : null;
        if (!blob) {
          throw new AdminError(404, `artifact ${name} has no stored bytes`);
        }
        const headers = { 'content-type': blob.contentType || 'application/octet-stream',
          'content-length': blob.size };
        if (blob.contentEncoding && blob.contentEncoding !== 'identity') {
          headers['content-encoding'] = blob.contentEncoding;
        }
        res.writeHead(200, headers);
        fs.createReadStream(store.blobPath(blob.id)).pipe(res);
        return undefined;
      }
      case 'PUT artifacts': {
        // /__admin/artifacts/<taskId>/<runId>/<name...>: seeds a present s3 artifact.
        if (parts.length < 4 || !/^[0-9]+$/.test(parts[2])) {
          break;
        }
        const [, taskId, runId] = parts;
        const name = parts.slice(3).join('/');
        let expires;
        if (query.has('expires')) {
          expires = Date.parse(query.get('expires'));
          if (!Number.isFinite(expires)) {
            throw new AdminError(400, `artifacts: ${taskId}/${runId}/${name}: expires is not a ` +
              `date, got ${JSON.stringify(query.get('expires'))}`);
          }
        }
        return queue.putS3Artifact(taskId, Number(runId), name, {
          body,
          contentType: req.headers['content-type'] || 'application/octet-stream',
          contentEncoding: req.headers['content-encoding'],
          expires,
        });
      }
      case 'PUT mirror': {
        if (parts.length < 2) {
          break;
        }
        const key = MirrorRoutes.keyOf(rawUrl, '/__admin/mirror');
        const statusHeader = req.headers['x-mirror-status'];
        const status = statusHeader === undefined ? 200 : Number(statusHeader);
        if (!Number.isInteger(status) || status < 200 || status > 599) {
          throw new AdminError(400, `mirror: ${key}: x-mirror-status must be a status code ` +
            `200-599, got ${JSON.stringify(statusHeader)}`);
        }
        srv.mirror.put(key, { body, status,
          contentType: req.headers['content-type'] || 'application/octet-stream',
          contentEncoding: req.headers['content-encoding'] });
        return { key, status, size: body.length };
      }
      case 'GET mirror':
        return { entries: srv.mirror.list() };
      case 'DELETE mirror':
        return { removed: srv.mirror.clear() };
      case 'GET requests': {
        const since = query.has('since') ? Number(query.get('since')) : 0;
        if (!Number.isInteger(since) || since < 0) {
          throw new AdminError(400, `requests: since must be a non-negative integer, got ` +
            JSON.stringify(query.get('since')));
        }
        return srv.requestLog(since);
      }
      case 'POST refuse': {
        const { ms } = body;
        if (!Number.isInteger(ms) || ms < 0 || ms > 600000) {
          throw new AdminError(400, `refuse: ms must be an integer in [0, 600000], got ${JSON.stringify(ms)}`);
        }
        // The port is closed (and every other connection cut) before the
        // answer goes out, on a connection that is closed after it: once the
        // caller has the answer, new connections are refused.
        srv.refuse(ms, req.socket);
        res.setHeader('connection', 'close');
        return { refusingMs: ms };
      }
      default:
        break;
    }
    throw new AdminError(404, `admin API: no route ${method} ${path}`);
  }
}
