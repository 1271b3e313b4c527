// Fault injection: repeatable with a seed, survivable by the official
// client's retries, and configurable through the admin API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  taskcluster, useServer, queueClient, tester, taskDef, admin, uniqueQueue, rejects,
  ADMIN_TOKEN,
} from './helper.js';
import { Faults, mulberry32, parseFaults } from '../lib/faults.js';

const env = useServer();


// Status codes of `n` raw pings after configuring `config`.
const pingStatuses = async (config, n) => {
  assert.equal((await admin(env.rootUrl, 'POST', 'faults', config)).status, 200);
  const out = [];
  for (let i = 0; i < n; i++) {
    out.push((await fetch(`${env.rootUrl}/api/queue/v1/ping`)).status);
  }
  return out;
};

test('the same seed gives the same faults; another seed others', async () => {
  const config = (seed) => ({ seed, rules: { ping: { errorRate: 0.5, errorStatus: [500, 503] } } });
  const a = await pingStatuses(config(7), 40);
  const b = await pingStatuses(config(7), 40);
  const c = await pingStatuses(config(8), 40);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.ok(a.includes(500) && a.includes(503) && a.includes(200), a.join(','));
  // Unit level: the PRNG and the per-key streams are deterministic.
  assert.deepEqual([1, 2, 3].map(mulberry32(1)), [1, 2, 3].map(mulberry32(1)));
  const f1 = new Faults();
  const f2 = new Faults();
  f1.configure(config(3));
  f2.configure(config(3));
  const seq = (f) => Array.from({ length: 20 }, () => f.decide('ping').error);
  assert.deepEqual(seq(f1), seq(f2));
  await admin(env.rootUrl, 'DELETE', 'faults');
});

test('the client retries through 5xx and dropped connections', async () => {
  await admin(env.rootUrl, 'POST', 'faults', { seed: 1, rules: {
    status: { errorRate: 1, errorStatus: 503, maxFaults: 2 },
    task: { dropRate: 1, dropAfter: 'nothing', maxFaults: 1 },
    createTask: { dropRate: 1, dropAfter: 'nothing', maxFaults: 1, latencyMs: [5, 20] },
  } });
  const queue = queueClient(env.rootUrl, tester, { retries: 5, delayFactor: 1 });
  const taskId = taskcluster.slugid();
  // The first createTask is processed but its reply is cut; the retry is
  // idempotent and succeeds.
  const def = taskDef({ taskQueueId: uniqueQueue() });
  assert.equal((await queue.createTask(taskId, def)).status.taskId, taskId);
  assert.equal((await queue.status(taskId)).status.taskId, taskId);
  assert.equal((await queue.task(taskId)).taskQueueId, def.taskQueueId);
  const stats = (await admin(env.rootUrl, 'GET', 'stats')).body;
  assert.deepEqual(stats.faults.status, { error: 2, drop: 0, latency: 0 });
  assert.deepEqual(stats.faults.task, { error: 0, drop: 1, latency: 0 });
  assert.equal(stats.faults.createTask.drop, 1);
  assert.equal(stats.requests.status, 3);
  assert.equal(stats.requests.task, 2);

  // Without retries the error is visible.
  await admin(env.rootUrl, 'POST', 'faults', { rules: { '*': { errorRate: 1, errorStatus: 500 } } });
  const err = await rejects(queueClient(env.rootUrl, tester).status(taskId));
  assert.equal(err.statusCode, 500);
  assert.equal(err.code, 'InternalServerError');
  await admin(env.rootUrl, 'DELETE', 'faults');
});

// taskcluster-client 87.1.3 fails (TypeError on res.body.message) instead of
// retrying when a 2xx reply is cut mid-way, so these modes are checked with
// raw HTTP: the status line arrives, then the connection dies.
test('replies cut after the headers or part of the body', async () => {
  await admin(env.rootUrl, 'POST', 'faults', { rules: {
    ping: { dropRate: 1, dropAfter: 'headers', maxFaults: 1 },
    '*': { dropRate: 1, dropAfter: 'body', maxFaults: 1 } } });
  const headersOnly = await fetch(`${env.rootUrl}/api/queue/v1/ping`);
  assert.equal(headersOnly.status, 200);
  await assert.rejects(headersOnly.text(), /terminated/);
  const half = await fetch(`${env.rootUrl}/api/queue/v1/task/${taskcluster.slugid()}`);
  assert.equal(half.status, 403);
  await assert.rejects(half.text(), /terminated/);
  assert.equal((await fetch(`${env.rootUrl}/api/queue/v1/ping`)).status, 200);
  await admin(env.rootUrl, 'DELETE', 'faults');
});

test('upload faults hit the putUrl target', async () => {
  await admin(env.rootUrl, 'POST', 'faults', { rules: { upload: { errorRate: 1, maxFaults: 1 } } });
  const queue = queueClient(env.rootUrl, tester);
  const taskId = taskcluster.slugid();
  const tq = uniqueQueue();
  await queue.createTask(taskId, taskDef({ taskQueueId: tq }));
  await queue.claimWork(tq, { workerGroup: 'wg-1', workerId: 'w', tasks: 1 });
  const s3 = await queue.createArtifact(taskId, 0, 'public/x.txt',
    { storageType: 's3', contentType: 'text/plain', expires: taskcluster.fromNowJSON('1 day') });
  const put = () => fetch(s3.putUrl, { method: 'PUT', body: 'x',
    headers: { 'content-type': 'text/plain' } });
  assert.equal((await put()).status, 500);
  assert.equal((await put()).status, 200);
  await admin(env.rootUrl, 'DELETE', 'faults');
});

test('fault configuration errors name the field; the admin API needs its token', async () => {
  assert.throws(() => parseFaults({ rules: { ping: { errorRate: 2 } } }),
    /^Error: faults: rules\.ping\.errorRate: expected a number in \[0, 1\], got 2$/);
  assert.throws(() => parseFaults({ rules: { ping: { errorStatus: 302 } } }),
    /faults: rules\.ping\.errorStatus: expected 4xx or 5xx status codes/);
  const bad = await admin(env.rootUrl, 'POST', 'faults', { rules: { ping: { bogus: 1 } } });
  assert.equal(bad.status, 400);
  assert.deepEqual(bad.body, { error: 'faults: rules.ping: unknown key "bogus"' });
  const noToken = await fetch(`${env.rootUrl}/__admin/stats`);
  assert.equal(noToken.status, 401);
  const wrong = await fetch(`${env.rootUrl}/__admin/stats`,
    { headers: { authorization: `Bearer ${ADMIN_TOKEN}x` } });
  assert.equal(wrong.status, 401);
});
