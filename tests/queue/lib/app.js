// The emulator as one object: an HTTP server on 127.0.0.1 serving the Queue
// and object service APIs, the storage targets and the admin API, plus the
// timers that expire claims and deadlines.  server.js is its command line.
import http from 'node:http';
import crypto from 'node:crypto';
import { Schemas, DEFAULT_REFERENCES } from './schemas.js';
import { Clock } from './clock.js';
import { Store } from './store.js';
import { Queue } from './queue.js';
import { Faults } from './faults.js';
import { Roles } from './scopes.js';
import { Authenticator } from './hawk.js';
import { ApiError, errorBody } from './errors.js';
import { ServiceRouter } from './router.js';
import { queueHandlers } from './routes/queue.js';
import { objectHandlers } from './routes/object.js';
import { BlobUrls, StorageRoutes } from './routes/storage.js';
import { AdminRoutes } from './routes/admin.js';
import { MirrorRoutes } from './routes/mirror.js';

export const QUEUE_CLIENT_ID = 'static/taskcluster/queue';
const MiB = 1024 * 1024;
const REQUEST_LOG_SIZE = 2000;

// Error codes of lib-api for the statuses an injected error may have; any
// other 4xx is an InputError, any 5xx an InternalServerError.
const FAULT_CODES = { 401: 'AuthenticationFailed', 403: 'InsufficientScopes',
  404: 'ResourceNotFound', 409: 'RequestConflict', 410: 'ResourceExpired',
  413: 'InputTooLarge', 429: 'TooManyRequests' };
// ...and the S3 error codes for the storage targets.
const S3_CODES = { 403: 'AccessDenied', 404: 'NoSuchKey', 409: 'OperationAborted',
  429: 'SlowDown', 503: 'SlowDown' };

const HTML_PAGE = '<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n' +
  '<body><h1>Bad Gateway</h1><p>The upstream server is unavailable (fault injected by the ' +
  'queue emulator).</p></body></html>\n';

// Query values that work as credentials (bewits, storage signatures) are
// replaced before a URL goes into the request log.
const redactUrl = (url) => url.replace(/([?&](?:bewit|signature)=)[^&]*/g, '$1<redacted>');

export const DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  claimSeconds: 1200,
  certSkewSeconds: 300,
  pollSeconds: 20,
  maxDeadlineDays: 5,
  maxBodyBytes: 16 * MiB,
  maxArtifactBytes: 1024 * MiB,
  tickMs: 250,
  anonymousScopes: ['queue:get-artifact:public/*'],
  strict: false,
  verbose: false,
};

// Long-poll waiters per task queue: claimWork sleeps here until createTask or
// a retry makes a run pending on its queue.
class Waiters {
  constructor() {
    this.byQueue = new Map();
  }

  wait(taskQueueId, ms, closed) {
    return new Promise((resolve) => {
      const set = this.byQueue.get(taskQueueId) || new Set();
      this.byQueue.set(taskQueueId, set);
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
      closed.then(done);
    });
  }

  notify(taskQueueId) {
    for (const done of [...(this.byQueue.get(taskQueueId) || [])]) {
      done();
    }
  }

  releaseAll() {
    for (const set of this.byQueue.values()) {
      for (const done of [...set]) {
        done();
      }
    }
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class QueueServer {
  constructor(options = {}) {
    this.options = { ...DEFAULTS, ...options };
    const o = this.options;
    this.log = o.log || ((line) => process.stderr.write(`queue-emulator: ${line}\n`));
    this.schemas = new Schemas(o.references || DEFAULT_REFERENCES);
    this.clock = new Clock();
    this.store = new Store({ stateDir: o.stateDir });
    this.faults = new Faults();
    if (o.faults) {
      this.faults.configure(o.faults);
    }
    this.clients = new Map();
    for (const c of o.clients || []) {
      this.clients.set(c.clientId, { ...c });
    }
    // The Queue's own client signs the temporary credentials it issues.
    this.queueCredentials = {
      clientId: QUEUE_CLIENT_ID,
      accessToken: o.queueAccessToken || crypto.randomBytes(24).toString('base64url'),
    };
    this.clients.set(QUEUE_CLIENT_ID, { ...this.queueCredentials, scopes: ['*'] });
    const roles = new Roles({ anonymous: o.anonymousScopes, ...(o.roles || {}) });
    this.auth = new Authenticator({ clients: this.clients, roles, clock: this.clock,
      certSkewMs: o.certSkewSeconds * 1000 });
    this.waiters = new Waiters();
    this.rootUrl = null;
    this.urls = new BlobUrls({
      secret: crypto.randomBytes(32),
      rootUrl: () => this.rootUrl,
      clock: this.clock,
    });
    this.queue = new Queue({
      store: this.store,
      clock: this.clock,
      credentials: this.queueCredentials,
      claimTimeoutMs: o.claimSeconds * 1000,
      maxDeadlineMs: o.maxDeadlineDays * 24 * 60 * 60 * 1000,
      onPending: (taskQueueId) => this.waiters.notify(taskQueueId),
      blobUrls: this.urls,
    });
    this.startedAt = Date.now();
    const shared = { queue: this.queue, store: this.store, urls: this.urls, clock: this.clock,
      waiters: this.waiters, pollMs: o.pollSeconds * 1000, startedAt: this.startedAt };
    this.routers = [
      new ServiceRouter({ schemas: this.schemas, serviceName: 'queue',
        handlers: queueHandlers(shared) }),
      new ServiceRouter({ schemas: this.schemas, serviceName: 'object',
        handlers: objectHandlers(shared) }),
    ];
    this.storage = new StorageRoutes({ store: this.store, urls: this.urls,
      maxArtifactBytes: o.maxArtifactBytes, log: this.log });
    this.admin = new AdminRoutes({ server: this });
    this.mirror = new MirrorRoutes();
    this.requests = [];
    this.requestSeq = 0;
    this.hanging = new Set();
    this.refuseTimer = null;
    this.counters = {
      requests: {},
      responses: {},
      requestSchemaFailures: 0,
      responseSchemaFailures: 0,
      internalErrors: 0,
    };
    this.responseFailures = [];
    this.sockets = new Set();
  }

  stats() {
    return {
      requests: { ...this.counters.requests },
      responses: { ...this.counters.responses },
      faults: structuredClone(this.faults.injected),
      requestSchemaFailures: this.counters.requestSchemaFailures,
      responseSchemaFailures: this.counters.responseSchemaFailures,
      responseSchemaFailureDetails: this.responseFailures.slice(-20),
      internalErrors: this.counters.internalErrors,
      tasks: this.store.tasks.size,
    };
  }

  // Requests (admin calls excepted) after sequence number `since`, oldest
  // first; only the last REQUEST_LOG_SIZE are kept.
  requestLog(since) {
    return { last: this.requestSeq,
      requests: this.requests.filter((r) => r.seq > since).map((r) => ({ ...r })) };
  }

  _logRequest(req, res) {
    this.requestSeq += 1;
    const entry = { seq: this.requestSeq, method: req.method, url: redactUrl(req.url),
      key: null, status: null };
    this.requests.push(entry);
    if (this.requests.length > REQUEST_LOG_SIZE) {
      this.requests.shift();
    }
    res.on('finish', () => {
      entry.status = res.statusCode;
    });
    return entry;
  }

  // Closes the listening socket and every open connection but `keep` (the
  // admin call's, which closes itself after its answer), so that new
  // connections are refused for `ms`; then listens on the same port again.
  refuse(ms, keep) {
    if (!this.server || this.refuseTimer) {
      return;
    }
    const { port } = this.server.address();
    this.server.close();
    for (const s of this.sockets) {
      if (s !== keep) {
        s.destroy();
      }
    }
    this.log(`refusing connections for ${ms} ms`);
    let attempts = 0;
    const relisten = () => {
      this.refuseTimer = null;
      const onError = (err) => {
        attempts += 1;
        if (attempts > 250) {
          this.log(`cannot listen on port ${port} again: ${err.message}`);
          return;
        }
        this.refuseTimer = setTimeout(relisten, 20);
      };
      this.server.once('error', onError);
      this.server.listen(port, this.options.host, () => {
        this.server.removeListener('error', onError);
        this.log(`listening again on port ${port}`);
      });
    };
    this.refuseTimer = setTimeout(relisten, ms);
  }

  _count(group, key) {
    this.counters[group][key] = (this.counters[group][key] || 0) + 1;
  }

  async start() {
    this.server = http.createServer((req, res) => {
      this._handle(req, res).catch((err) => {
        this.counters.internalErrors += 1;
        this.log(`unhandled error for ${req.method} ${req.url}: ${err.stack || err}`);
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end('internal error\n');
        } else {
          res.destroy();
        }
      });
    });
    // Long polls run 20 s by default; keep Node from timing them out.
    this.server.requestTimeout = 0;
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, resolve);
    });
    const { port } = this.server.address();
    this.rootUrl = `http://${this.options.host}:${port}`;
    this.ticker = setInterval(() => {
      try {
        this.queue.tick();
      } catch (err) {
        this.log(`tick failed: ${err.stack || err}`);
      }
    }, this.options.tickMs);
    return this.rootUrl;
  }

  async stop() {
    clearInterval(this.ticker);
    clearTimeout(this.refuseTimer);
    this.refuseTimer = null;
    this.waiters.releaseAll();
    // Requests left hanging by a fault are never answered: cut them now.
    for (const res of this.hanging) {
      res.destroy();
    }
    if (this.server) {
      await new Promise((resolve) => {
        this.server.close(resolve);
        // Idle keep-alive sockets and any long poll still open would hold
        // close() up; give in-flight replies a moment, then cut them.
        setTimeout(() => {
          for (const s of this.sockets) {
            s.destroy();
          }
        }, 200).unref();
      });
    }
    this.store.close();
  }

  // Reads a request body up to `limit` bytes as UTF-8 text (a Buffer when
  // `raw`).
  _readBody(req, limit, raw = false) {
    return new Promise((resolve, reject) => {
      const chunks = [];
      let size = 0;
      req.on('data', (chunk) => {
        size += chunk.length;
        if (size > limit) {
          reject(new ApiError('InputTooLarge',
            'Request body exceeds the limit of {{limit}} bytes', { limit }));
          req.destroy();
          return;
        }
        chunks.push(chunk);
      });
      req.on('end', () => {
        const buf = Buffer.concat(chunks);
        resolve(raw ? buf : buf.toString('utf8'));
      });
      // A client that hung up (a worker cancelling its claimWork long poll
      // on SIGTERM) is not an error of the emulator's.
      req.on('error', (err) => {
        err.clientGone = true;
        reject(err);
      });
    });
  }

  async _handle(req, res) {
    const rawUrl = req.url;
    const qi = rawUrl.indexOf('?');
    const path = qi === -1 ? rawUrl : rawUrl.slice(0, qi);
    const search = new URLSearchParams(qi === -1 ? '' : rawUrl.slice(qi + 1));
    res.on('finish', () => this._count('responses', String(res.statusCode)));
    if (this.options.verbose) {
      res.on('finish', () => this.log(`${req.method} ${rawUrl} -> ${res.statusCode}`));
    }

    if (this.admin.match(path)) {
      this._count('requests', 'admin');
      let body;
      try {
        body = await this._readBody(req, this.admin.bodyLimit(req.method, path), true);
      } catch {
        res.writeHead(413).end();
        return;
      }
      await this.admin.handle(req, res, path, body, rawUrl);
      return;
    }

    const logged = this._logRequest(req, res);

    if (this.mirror.match(path)) {
      logged.key = 'mirror';
      this._count('requests', 'mirror');
      const fate = this.faults.decide('mirror');
      const injected = await this._injectBefore(req, res, fate, (status) => {
        const text = `injected fault: HTTP ${status}\n`;
        res.writeHead(status, { ...this._retryAfter(fate),
          'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
        res.end(req.method === 'HEAD' ? undefined : text);
      });
      if (injected) {
        return;
      }
      this._armAfter(res, fate);
      this.mirror.handle(req, res, rawUrl);
      return;
    }

    if (this.storage.match(path)) {
      const key = this.storage.faultKey(req.method);
      logged.key = key;
      this._count('requests', key);
      const fate = this.faults.decide(key);
      const injected = await this._injectBefore(req, res, fate, (status) => {
        res.writeHead(status, { ...this._retryAfter(fate), 'content-type': 'application/xml' });
        res.end('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>' +
          `${S3_CODES[status] || (status >= 500 ? 'InternalError' : 'InvalidRequest')}</Code>` +
          '<Message>injected fault</Message></Error>\n');
      });
      if (injected) {
        return;
      }
      this._armAfter(res, fate);
      this.queue.tick();
      await this.storage.handle(req, res, path, search);
      return;
    }

    let match = null;
    let router = null;
    for (const r of this.routers) {
      match = r.match(req.method, path);
      if (match) {
        router = r;
        break;
      }
    }
    if (!match) {
      this._count('requests', 'unknown');
      req.resume();
      const body = JSON.stringify({ code: 'ResourceNotFound',
        message: `No such API endpoint: ${req.method} ${path}`, requestInfo: {} });
      res.writeHead(404, { 'content-type': 'application/json; charset=utf-8' });
      res.end(body);
      return;
    }
    const { entry } = match;
    logged.key = entry.name;
    this._count('requests', entry.name);
    const fate = this.faults.decide(entry.name);
    const info = { method: entry.name, params: {}, payload: {},
      time: () => new Date(this.clock.now()).toJSON() };
    const injected = await this._injectBefore(req, res, fate, (status) => {
      const err = status >= 500
        ? new ApiError('InternalServerError',
          'Internal Server Error, incidentId {{incidentId}}. (fault injected by the queue emulator)',
          { incidentId: crypto.randomUUID() })
        : { code: FAULT_CODES[status] || 'InputError', details: {},
          message: `HTTP ${status} (fault injected by the queue emulator)` };
      err.status = status;
      const headers = this._retryAfter(fate);
      if (status === 401) {
        headers['www-authenticate'] = 'hawk';
      }
      this._send(res, req, status, errorBody(err, { ...info, time: info.time() }), headers);
    });
    if (injected) {
      return;
    }

    let closedResolve;
    const closedPromise = new Promise((resolve) => {
      closedResolve = resolve;
    });
    res.on('close', () => closedResolve());
    const ctx = {
      entry,
      rawParams: match.rawParams,
      query: Object.fromEntries(search),
      contentType: req.headers['content-type'],
      bodyText: '',
      closed: () => res.destroyed || res.writableEnded,
      closedPromise,
      onRequestSchemaFailure: () => {
        this.counters.requestSchemaFailures += 1;
      },
      authenticate: () => {
        const host = (req.headers.host || '').toLowerCase();
        const parsed = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host);
        return this.auth.authenticate({
          method: req.method,
          resource: rawUrl,
          host: parsed ? parsed[1] : host,
          port: parsed && parsed[2] ? parseInt(parsed[2], 10) : 80,
          authorization: req.headers.authorization,
          contentType: req.headers['content-type'],
          body: ctx.bodyText,
        });
      },
    };

    let reply;
    try {
      ctx.bodyText = await this._readBody(req, this.options.maxBodyBytes);
      this.queue.tick();
      reply = await router.dispatch(ctx);
    } catch (err) {
      if (err && err.clientGone) {
        this.log(`${entry.name}: the client hung up before its request was read`);
        res.destroy();
        return;
      }
      let apiErr = err;
      if (!(err instanceof ApiError)) {
        const incidentId = crypto.randomUUID();
        this.counters.internalErrors += 1;
        this.log(`${entry.name}: internal error, incidentId ${incidentId}: ${err.stack || err}`);
        apiErr = new ApiError('InternalServerError',
          'Internal Server Error, incidentId {{incidentId}}.', { incidentId });
      }
      const body = errorBody(apiErr, { method: entry.name, params: ctx.params || {},
        payload: ctx.payload || {}, time: info.time() });
      this._armAfter(res, fate);
      this._send(res, req, apiErr.status, body, err.headers || {});
      return;
    }

    const headers = reply.headers || {};
    let { status, body } = reply;
    if (entry.outputId && !reply.skipValidation && (status === 200 || status === 303)) {
      const error = this.schemas.validate('response', entry.outputId, body);
      if (error) {
        // A response that breaks its schema is the emulator's bug: never send
        // it; answer 500, log the details, and count it for the tests.
        this.counters.responseSchemaFailures += 1;
        const incidentId = crypto.randomUUID();
        const detail = { method: entry.name, url: rawUrl, error: error.trim(), body };
        this.responseFailures.push(detail);
        this.log(`response schema validation failed (incidentId ${incidentId}): ` +
          JSON.stringify(detail, null, 2));
        const apiErr = new ApiError('InternalServerError',
          'Internal Server Error, incidentId {{incidentId}}. Output schema validation ' +
          'error: {{error}}', { incidentId, error });
        status = 500;
        body = errorBody(apiErr, { method: entry.name, params: ctx.params, payload: ctx.payload,
          time: info.time() });
        for (const k of Object.keys(headers)) {
          delete headers[k];
        }
      }
    }
    this._armAfter(res, fate);
    this._send(res, req, status, body, headers);
  }

  _retryAfter(fate) {
    return fate.retryAfter === undefined ? {} : { 'retry-after': String(fate.retryAfter) };
  }

  // Applies the latency and the faults that replace processing: a request
  // left hanging, an error status (answered by `sendError(status)`), an HTML
  // page or a bad JSON body with status 200, a connection cut while the
  // request body arrives.  Returns true when the request was dealt with.
  async _injectBefore(req, res, fate, sendError) {
    if (fate.latencyMs) {
      await sleep(fate.latencyMs);
    }
    if (fate.hang) {
      // Read the body so the client is left waiting for an answer, not
      // for its upload to be accepted.
      req.resume();
      this.hanging.add(res);
      res.on('close', () => this.hanging.delete(res));
      return true;
    }
    if (fate.drop === 'request-body') {
      await this._cutRequestBody(req);
      return true;
    }
    if (fate.error) {
      req.resume();
      sendError(fate.error);
      return true;
    }
    if (fate.html || fate.badBody !== null) {
      req.resume();
      const [type, text] = fate.html ? ['text/html; charset=utf-8', HTML_PAGE]
        : ['application/json; charset=utf-8', fate.badBody];
      res.writeHead(200, { 'content-type': type, 'content-length': Buffer.byteLength(text) });
      res.end(req.method === 'HEAD' ? undefined : text);
      return true;
    }
    return false;
  }

  // The faults applied to the processed reply: a dropped connection or a
  // truncated body.
  _armAfter(res, fate) {
    if (fate.drop) {
      this._armDrop(res, fate.drop);
    } else if (fate.truncate) {
      this._armTruncate(res);
    }
  }

  // Reads about half of the announced request body (the first chunk when
  // it is chunked; nothing when there is none), then destroys the
  // connection: an upload cut mid-way.  Nothing is processed.
  _cutRequestBody(req) {
    return new Promise((resolve) => {
      const socket = req.socket;
      const length = Number(req.headers['content-length']);
      const chunked = /chunked/i.test(req.headers['transfer-encoding'] || '');
      const cut = () => {
        req.removeAllListeners('data');
        socket.destroy();
        resolve();
      };
      if (!chunked && !(length > 0)) {
        cut();
        return;
      }
      const want = chunked ? 1 : Math.max(1, Math.floor(length / 2));
      let got = 0;
      req.on('data', (chunk) => {
        got += chunk.length;
        if (got >= want) {
          cut();
        }
      });
      req.on('end', cut);
      req.on('error', cut);
    });
  }

  // Lets the status line, the headers (with the full Content-Length) and
  // the first half of the body out, then closes the connection: a reply
  // truncated by a dying server or proxy.  The request has been processed.
  _armTruncate(res) {
    const socket = res.socket;
    const origWriteHead = res.writeHead.bind(res);
    const origWrite = res.write.bind(res);
    let total = null;
    let sent = 0;
    let pending = 0;
    let ended = false;
    let cutting = false;
    const allowance = (chunkLength) => (total !== null ? Math.floor(total / 2)
      : sent + Math.floor(chunkLength / 2));
    const maybeCut = () => {
      if (!cutting && pending === 0 && (ended || (total !== null && sent >= allowance(0)))) {
        cutting = true;
        setImmediate(() => socket.destroy());
      }
    };
    res.writeHead = (status, ...rest) => {
      for (const arg of rest) {
        if (arg && typeof arg === 'object') {
          for (const [k, v] of Object.entries(arg)) {
            if (k.toLowerCase() === 'content-length') {
              total = Number(v);
            }
          }
        }
      }
      origWriteHead(status, ...rest);
      res.flushHeaders();
      return res;
    };
    res.write = (chunk) => {
      if (cutting || !chunk || !chunk.length || typeof chunk === 'function') {
        return true;
      }
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
      const take = Math.max(0, Math.min(buf.length, allowance(buf.length) - sent));
      if (take > 0) {
        sent += take;
        pending += 1;
        origWrite(buf.subarray(0, take), () => {
          pending -= 1;
          maybeCut();
        });
      }
      if (total === null) {
        // Unknown length: half of the first chunk is all that gets out.
        ended = true;
      }
      maybeCut();
      return true;
    };
    res.end = (chunk) => {
      if (!res.headersSent) {
        res.flushHeaders();
      }
      if (chunk && typeof chunk !== 'function') {
        res.write(chunk);
      }
      ended = true;
      maybeCut();
      return res;
    };
  }

  _send(res, req, status, body, headers) {
    if (res.destroyed) {
      return;
    }
    if (body === undefined) {
      res.writeHead(status, headers);
      res.end();
      return;
    }
    const text = JSON.stringify(body);
    res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text) });
    res.end(req.method === 'HEAD' ? undefined : text);
  }

  // Makes the next response die: before anything is sent ("nothing"), after
  // the status line and headers ("headers") or after part of the body
  // ("body"), the socket is destroyed, as a crashed proxy or a network failure
  // would leave it.  The request itself has been processed.
  _armDrop(res, mode) {
    const socket = res.socket;
    if (mode === 'nothing') {
      res.writeHead = () => res;
      res.write = () => true;
      res.end = () => {
        socket.destroy();
        return res;
      };
      return;
    }
    const origWrite = res.write.bind(res);
    const origWriteHead = res.writeHead.bind(res);
    let dropped = false;
    const drop = () => {
      if (!dropped) {
        dropped = true;
        setImmediate(() => socket.destroy());
      }
    };
    res.writeHead = (...args) => {
      origWriteHead(...args);
      res.flushHeaders();
      if (mode === 'headers') {
        drop();
      }
      return res;
    };
    res.write = (chunk) => {
      if (!dropped && mode === 'body' && chunk && chunk.length) {
        const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
        origWrite(buf.subarray(0, Math.max(1, Math.floor(buf.length / 2))));
      }
      drop();
      return true;
    };
    res.end = (chunk) => {
      if (!res.headersSent) {
        res.flushHeaders();
      }
      if (chunk && chunk.length) {
        res.write(chunk);
      }
      drop();
      return res;
    };
  }
}
