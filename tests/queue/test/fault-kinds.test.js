// The fault kinds beyond 5xx and dropped replies: any 4xx/5xx status (with
// Retry-After), bad JSON bodies, HTML pages, truncated bodies, requests left
// hanging and uploads cut while their body arrives.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  taskcluster, useServer, queueClient, tester, admin, adminPut, rawGet, uniqueQueue, rejects,
  taskDef,
} from './helper.js';
import { Faults, parseFaults } from '../lib/faults.js';

const env = useServer();

afterEach(async () => {
  await admin(env.rootUrl, 'DELETE', 'faults');
});

const setFaults = async (config) => {
  const res = await admin(env.rootUrl, 'POST', 'faults', config);
  assert.equal(res.status, 200, JSON.stringify(res.body));
};

const ping = () => fetch(`${env.rootUrl}/api/queue/v1/ping`);

test('errorStatus takes any 4xx or 5xx, with lib-api bodies and Retry-After', async () => {
  await setFaults({ rules: { ping: { errorRate: 1, errorStatus: 429, retryAfter: 3 },
    status: { errorRate: 1, errorStatus: [401, 403, 409], maxFaults: 30 } } });
  const limited = await ping();
  assert.equal(limited.status, 429);
  assert.equal(limited.headers.get('retry-after'), '3');
  const body = await limited.json();
  assert.equal(body.code, 'TooManyRequests');
  assert.match(body.message, /^HTTP 429 \(fault injected by the queue emulator\)\n\n---\n/);
  assert.match(body.message, /\* statusCode: 429/);
  assert.equal(body.requestInfo.method, 'ping');

  const queue = queueClient(env.rootUrl, tester);
  const seen = new Map();
  for (let i = 0; i < 30; i++) {
    const err = await rejects(queue.status(taskcluster.slugid()));
    seen.set(err.statusCode, err.code);
  }
  assert.deepEqual([...seen].sort(), [[401, 'AuthenticationFailed'],
    [403, 'InsufficientScopes'], [409, 'RequestConflict']]);
  const after = await rejects(queue.status(taskcluster.slugid()));
  assert.equal(after.statusCode, 404, 'maxFaults should have ended the faults');

  await setFaults({ rules: { status: { errorRate: 1, errorStatus: 401, maxFaults: 1 } } });
  const r401 = await fetch(`${env.rootUrl}/api/queue/v1/task/${taskcluster.slugid()}/status`);
  assert.equal(r401.status, 401);
  assert.equal(r401.headers.get('www-authenticate'), 'hawk');
  assert.equal(r401.headers.get('retry-after'), null);
});

test('badBody and htmlRate answer 200 with a body the caller cannot use', async () => {
  await setFaults({ rules: {
    claimWork: { badBodyRate: 1, badBody: '{"tasks":[{}]}' },
    ping: { badBodyRate: 1, maxFaults: 1 },
    pendingTasks: { htmlRate: 1 } } });
  const queue = queueClient(env.rootUrl, tester);
  const tq = uniqueQueue();
  const claim = await queue.claimWork(tq, { workerGroup: 'wg-1', workerId: 'w', tasks: 1 });
  assert.deepEqual(claim, { tasks: [{}] });
  const defaulted = await ping();
  assert.equal(defaulted.status, 200);
  assert.equal(defaulted.headers.get('content-type'), 'application/json; charset=utf-8');
  assert.equal(await defaulted.text(), '{}');
  const html = await fetch(`${env.rootUrl}/api/queue/v1/pending/${tq}`);
  assert.equal(html.status, 200);
  assert.equal(html.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.match(await html.text(), /^<!DOCTYPE html>\n<html>/);
  const stats = (await admin(env.rootUrl, 'GET', 'stats')).body;
  assert.equal(stats.faults.claimWork.badBody, 1);
  assert.equal(stats.faults.pendingTasks.html, 1);
  assert.equal(stats.responseSchemaFailures, 0);
  for (const bad of ['[]', '"str"', 'null', '{"tasks": ']) {
    await setFaults({ rules: { ping: { badBodyRate: 1, badBody: bad } } });
    assert.equal(await (await ping()).text(), bad);
  }
});

test('truncateRate cuts a processed reply halfway under the full Content-Length', async () => {
  const { body: { taskId } } = await admin(env.rootUrl, 'POST', 'tasks',
    { taskQueueId: uniqueQueue() });
  const bytes = Buffer.alloc(300 * 1024, 7);
  await adminPut(env.rootUrl, `artifacts/${taskId}/0/public/big.bin`, bytes);
  await adminPut(env.rootUrl, 'mirror/r/projects.yml', 'a: 1\nb: 2\n',
    { 'content-type': 'text/yaml' });
  await setFaults({ rules: { download: { truncateRate: 1, maxFaults: 1 },
    mirror: { truncateRate: 1, maxFaults: 1 }, ping: { truncateRate: 1, maxFaults: 1 } } });
  const url = `${env.rootUrl}/__storage/s3/public/${taskId}/0/public/big.bin`;
  const cut = await rawGet(url);
  assert.equal(cut.status, 200);
  assert.equal(cut.headers['content-length'], String(bytes.length));
  assert.equal(cut.body.length, bytes.length / 2);
  assert.ok(cut.error, 'the reply was not cut');
  const whole = await rawGet(url);
  assert.equal(whole.error, null);
  assert.deepEqual(whole.body, bytes);

  const yml = await rawGet(`${env.rootUrl}/__mirror/r/projects.yml`);
  assert.equal(yml.status, 200);
  assert.equal(yml.body.toString(), 'a: 1\n');
  assert.ok(yml.error);
  const pong = await rawGet(`${env.rootUrl}/api/queue/v1/ping`);
  assert.equal(pong.status, 200);
  assert.equal(pong.body.length, Math.floor(Number(pong.headers['content-length']) / 2));
  assert.ok(pong.error);
  const stats = (await admin(env.rootUrl, 'GET', 'stats')).body;
  assert.deepEqual([stats.faults.download.truncate, stats.faults.mirror.truncate], [1, 1]);
});

test('hangRate leaves a request unanswered until the client gives up', async () => {
  await adminPut(env.rootUrl, 'mirror/gh/x', 'ok');
  await setFaults({ rules: { mirror: { hangRate: 1, maxFaults: 1 } } });
  const t0 = Date.now();
  const err = await fetch(`${env.rootUrl}/__mirror/gh/x`, { signal: AbortSignal.timeout(300) })
    .then(() => null, (e) => e);
  assert.ok(err, 'the hanging request got an answer');
  assert.equal(err.name, 'TimeoutError');
  assert.ok(Date.now() - t0 >= 290);
  const next = await fetch(`${env.rootUrl}/__mirror/gh/x`);
  assert.equal(await next.text(), 'ok');
  assert.equal((await admin(env.rootUrl, 'GET', 'stats')).body.faults.mirror.hang, 1);
  // One left hanging on purpose: stop() must cut it (checked by the after hook).
  await setFaults({ rules: { ping: { hangRate: 1 } } });
  ping().catch(() => {});
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(env.server.hanging.size, 1);
});

test('dropAfter "request-body" cuts an upload while its body arrives', async () => {
  const queue = queueClient(env.rootUrl, tester);
  const taskId = taskcluster.slugid();
  const tq = uniqueQueue();
  await queue.createTask(taskId, taskDef({ taskQueueId: tq }));
  await queue.claimWork(tq, { workerGroup: 'wg-1', workerId: 'w', tasks: 1 });
  const s3 = await queue.createArtifact(taskId, 0, 'public/upload.bin', { storageType: 's3',
    contentType: 'application/octet-stream', expires: taskcluster.fromNowJSON('1 day') });
  await setFaults({ rules: { upload: { dropRate: 1, dropAfter: 'request-body', maxFaults: 1 } } });
  const body = Buffer.alloc(4 * 1024 * 1024, 1);
  const put = () => fetch(s3.putUrl, { method: 'PUT', body,
    headers: { 'content-type': 'application/octet-stream' } });
  const err = await put().then(() => null, (e) => e);
  assert.ok(err, 'the cut upload succeeded');
  // Nothing was stored, and the retry goes through.
  assert.equal((await admin(env.rootUrl, 'GET',
    `artifacts/${taskId}/0/public/upload.bin`)).status, 404);
  assert.equal((await put()).status, 200);
  const stored = await rawGet(`${env.rootUrl}/__storage/s3/public/${taskId}/0/public/upload.bin`);
  assert.equal(stored.body.length, body.length);
  const log = (await admin(env.rootUrl, 'GET', 'requests')).body.requests
    .filter((r) => r.key === 'upload');
  assert.deepEqual(log.map((r) => r.status), [null, 200]);
  assert.match(log[0].url, /signature=<redacted>/);

  // A request without a body is cut at once, unprocessed.
  await setFaults({ rules: { ping: { dropRate: 1, dropAfter: 'request-body', maxFaults: 1 } } });
  await assert.rejects(rawGet(`${env.rootUrl}/api/queue/v1/ping`), /socket hang up/);
});

test('new kinds repeat with the seed and leave older configurations alone', async () => {
  const config = { seed: 5, rules: { mirror: { errorRate: 0.2, dropRate: 0.2, hangRate: 0.1,
    htmlRate: 0.2, badBodyRate: 0.2, truncateRate: 0.2 } } };
  const kinds = (f) => Array.from({ length: 200 }, () => {
    const fate = f.decide('mirror');
    return ['error', 'drop', 'hang', 'html', 'badBody', 'truncate'].find((k) => fate[k]) || '-';
  });
  const a = new Faults();
  const b = new Faults();
  a.configure(config);
  b.configure(config);
  const seq = kinds(a);
  assert.deepEqual(seq, kinds(b));
  for (const k of ['error', 'drop', 'hang', 'html', 'badBody', 'truncate', '-']) {
    assert.ok(seq.includes(k), `${k} never drawn`);
  }
  // A rule without the new kinds draws 4 values per request, as before they existed.
  const old = new Faults();
  const withZero = new Faults();
  old.configure({ seed: 9, rules: { ping: { errorRate: 0.5, dropRate: 0.5 } } });
  withZero.configure({ seed: 9, rules: { ping: { errorRate: 0.5, dropRate: 0.5, htmlRate: 0 } } });
  const fates = (f) => Array.from({ length: 50 }, () => JSON.stringify(f.decide('ping')));
  assert.deepEqual(fates(old), fates(withZero));

  for (const [rule, message] of [
    [{ badBody: {} }, /rules\.r\.badBody: expected a string, got \{\}/],
    [{ hangRate: 2 }, /rules\.r\.hangRate: expected a number in \[0, 1\], got 2/],
    [{ retryAfter: 'soon' }, /rules\.r\.retryAfter: expected a non-negative integer/],
    [{ dropAfter: 'half' }, /"nothing", "headers", "body" or "request-body"/]]) {
    assert.throws(() => parseFaults({ rules: { r: rule } }), message);
  }
});
