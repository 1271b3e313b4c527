// Test-only admin API under /__admin/: plain JSON over HTTP, so the Lua
// integration tests can drive it with a curl-like request.  Every call needs
// "Authorization: Bearer <admin token>" (--admin-token); without a configured
// token the admin API is disabled.  Errors are {"error": message}.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { ApiError, renderTemplate } from '../errors.js';
import { nice as slugid } from '../slugid.js';

const DAY = 24 * 60 * 60 * 1000;

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

  _json(res, status, body) {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  async handle(req, res, path, bodyText) {
    try {
      if (!this.server.options.adminToken) {
        throw new AdminError(403, 'admin API disabled: start the server with --admin-token');
      }
      if (!this._authorized(req)) {
        throw new AdminError(401, 'admin API: missing or wrong "Authorization: Bearer <token>"');
      }
      let body = {};
      if (bodyText.length) {
        try {
          body = JSON.parse(bodyText);
        } catch (err) {
          throw new AdminError(400, `admin API: body is not JSON: ${err.message}`);
        }
      }
      const result = await this._route(req.method, path, body, res);
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

  async _route(method, path, body, res) {
    const srv = this.server;
    const { queue, store } = srv;
    const parts = path.split('/').slice(2).map(decodeURIComponent);
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
      default:
        break;
    }
    throw new AdminError(404, `admin API: no route ${method} ${path}`);
  }
}
