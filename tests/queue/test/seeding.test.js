// The admin calls that build test worlds without workers: tasks resolved
// as if a worker had run them, artifacts seeded byte for byte, the static
// mirror of remote files, the request log and refused connections.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import {
  taskcluster, useServer, queueClient, tester, admin, adminPut, rawGet, uniqueQueue, rejects,
  createAndClaim,
} from './helper.js';

const env = useServer();

const runs = (status) => status.runs.map((r) => [r.state, r.reasonCreated, r.reasonResolved,
  r.workerGroup, r.workerId]);

test('tasks/<taskId>/complete resolves the latest run, claiming it first', async () => {
  const queue = queueClient(env.rootUrl, tester);
  const tq = uniqueQueue();
  const { body: { taskId: decision } } = await admin(env.rootUrl, 'POST', 'tasks',
    { taskQueueId: tq });
  const { body: { taskId: build } } = await admin(env.rootUrl, 'POST', 'tasks',
    { taskQueueId: tq, dependencies: [decision] });
  assert.equal((await queue.status(build)).status.state, 'unscheduled');

  const done = await admin(env.rootUrl, 'POST', `tasks/${decision}/complete`);
  assert.equal(done.status, 200);
  assert.deepEqual(runs(done.body.status),
    [['completed', 'scheduled', 'completed', 'emulator', 'admin']]);
  // The dependency is satisfied: the build became pending.
  assert.equal((await queue.status(build)).status.state, 'pending');
  // Same state again is a no-op; another state a conflict.
  assert.equal((await admin(env.rootUrl, 'POST', `tasks/${decision}/complete`)).status, 200);
  const conflict = await admin(env.rootUrl, 'POST', `tasks/${decision}/complete`,
    { state: 'failed' });
  assert.equal(conflict.status, 409);
  assert.match(conflict.body.error, /already resolved \(state: completed/);

  const failed = await admin(env.rootUrl, 'POST', `tasks/${build}/complete`,
    { workerGroup: 'wg-9', workerId: 'w-9', state: 'failed' });
  assert.deepEqual(runs(failed.body.status), [['failed', 'scheduled', 'failed', 'wg-9', 'w-9']]);
  const full = (await queue.status(build)).status;
  assert.ok(Date.parse(full.runs[0].started) <= Date.parse(full.runs[0].resolved));
  assert.equal(typeof full.runs[0].takenUntil, 'string');

  // A task whose dependency never resolved gets a run 0 all the same.
  const { body: { taskId: blocked } } = await admin(env.rootUrl, 'POST', 'tasks',
    { taskQueueId: tq, dependencies: [build] });
  const forced = await admin(env.rootUrl, 'POST', `tasks/${blocked}/complete`,
    { state: 'exception' });
  assert.deepEqual(runs(forced.body.status),
    [['exception', 'scheduled', 'malformed-payload', 'emulator', 'admin']]);

  // A claimed task keeps its worker; worker-shutdown is retried as reportException would.
  const claimed = await createAndClaim(env.rootUrl, { retries: 1 });
  const retried = await admin(env.rootUrl, 'POST', `tasks/${claimed.taskId}/complete`,
    { state: 'exception', reason: 'worker-shutdown' });
  assert.deepEqual(runs(retried.body.status), [
    ['exception', 'scheduled', 'worker-shutdown', 'wg-1', 'wid-1'],
    ['pending', 'retry', undefined, undefined, undefined]]);

  for (const [body, pattern] of [
    [{ state: 'done' }, /state must be "completed", "failed" or "exception", got "done"/],
    [{ state: 'failed', reason: 'oops' }, /reason for failed must be one of failed, got "oops"/],
    [{ workerId: 'a b' }, /workerId must match/]]) {
    const bad = await admin(env.rootUrl, 'POST', `tasks/${build}/complete`, body);
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, pattern);
  }
  const missing = await admin(env.rootUrl, 'POST', `tasks/${taskcluster.slugid()}/complete`);
  assert.equal(missing.status, 404);
});

test('seeded artifacts are served as if a worker had uploaded them', async () => {
  const queue = queueClient(env.rootUrl, tester);
  const { body: { taskId } } = await admin(env.rootUrl, 'POST', 'tasks',
    { taskQueueId: uniqueQueue() });
  const cot = Buffer.from(JSON.stringify({ taskId, artifacts: {} }));
  const zipped = zlib.gzipSync(cot);
  // Seeded on a pending run, before anything claimed it.
  const put = await adminPut(env.rootUrl, `artifacts/${taskId}/0/public%2Fchain-of-trust.json`,
    zipped, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
  assert.equal(put.status, 200);
  assert.deepEqual(put.body, { storageType: 's3', name: 'public/chain-of-trust.json' });
  const expires = taskcluster.fromNowJSON('2 hours');
  assert.equal((await adminPut(env.rootUrl,
    `artifacts/${taskId}/0/public/build/target.bin?expires=${encodeURIComponent(expires)}`,
    Buffer.from([0, 1, 2, 255]))).status, 200);
  assert.equal((await adminPut(env.rootUrl, `artifacts/${taskId}/0/private/secret.txt`,
    Buffer.from('hush'), { 'content-type': 'text/plain' })).status, 200);
  await admin(env.rootUrl, 'POST', `tasks/${taskId}/complete`);

  const listed = await queue.listLatestArtifacts(taskId);
  assert.deepEqual(listed.artifacts.map((a) => [a.name, a.storageType, a.contentType]), [
    ['private/secret.txt', 's3', 'text/plain'],
    ['public/build/target.bin', 's3', 'application/octet-stream'],
    ['public/chain-of-trust.json', 's3', 'application/json']]);
  assert.equal(listed.artifacts[1].expires, expires);
  // Without ?expires the artifact lives as long as the task.
  assert.equal(listed.artifacts[2].expires, (await queue.task(taskId)).expires);
  assert.deepEqual((await queue.listArtifacts(taskId, 0)).artifacts, listed.artifacts);

  // The 303 leads to the bytes as stored, gzip and all.
  const answer = await queue.getLatestArtifact(taskId, 'public/chain-of-trust.json');
  assert.equal(answer.storageType, 's3');
  const got = await rawGet(answer.url);
  assert.equal(got.status, 200);
  assert.equal(got.headers['content-encoding'], 'gzip');
  assert.equal(got.headers['content-type'], 'application/json');
  assert.deepEqual(got.body, zipped);
  assert.deepEqual(zlib.gunzipSync(got.body), cot);
  const redirect = await fetch(queue.buildUrl(queue.getArtifact, taskId, 0,
    'public/build/target.bin'), { redirect: 'manual' });
  assert.equal(redirect.status, 303);
  assert.equal(redirect.headers.get('x-taskcluster-artifact-storage-type'), 's3');
  assert.deepEqual(Buffer.from(await (await fetch(redirect.headers.get('location'))).arrayBuffer()),
    Buffer.from([0, 1, 2, 255]));
  assert.equal((await queue.latestArtifact(taskId, 'public/build/target.bin')).storageType, 's3');

  // Private artifacts need the scope, then a signed URL.
  const denied = await rejects(queueClient(env.rootUrl, {})
    .getLatestArtifact(taskId, 'private/secret.txt'));
  assert.equal(denied.statusCode, 403);
  const secret = await queue.getLatestArtifact(taskId, 'private/secret.txt');
  assert.match(secret.url, /\/__storage\/s3\/private\/.*signature=/);
  assert.equal(await (await fetch(secret.url)).text(), 'hush');

  // Seeding again replaces the bytes; a missing run or task is a 404.
  await adminPut(env.rootUrl, `artifacts/${taskId}/0/private/secret.txt`, Buffer.from('new'),
    { 'content-type': 'text/plain' });
  assert.equal(await (await fetch((await queue.getLatestArtifact(taskId,
    'private/secret.txt')).url)).text(), 'new');
  const noRun = await adminPut(env.rootUrl, `artifacts/${taskId}/1/public/x`, Buffer.from('x'));
  assert.equal(noRun.status, 404);
  assert.match(noRun.body.error, /Run 1 not found/);
  const badExpires = await adminPut(env.rootUrl, `artifacts/${taskId}/0/public/x?expires=soon`,
    Buffer.from('x'));
  assert.equal(badExpires.status, 400);
  assert.equal((await adminPut(env.rootUrl, `artifacts/${taskcluster.slugid()}/0/public/x`,
    Buffer.from('x'))).status, 404);
});

test('the mirror answers stored bytes by exact path and query', async () => {
  const key = 'hg/mozilla-central/json-pushes?changeset=abc&version=2&full=1';
  const pushes = JSON.stringify({ pushes: { 1: { changesets: ['abc'] } } });
  const put = await adminPut(env.rootUrl, `mirror/${key}`, pushes,
    { 'content-type': 'application/json' });
  assert.deepEqual(put.body, { key: `/${key}`, status: 200, size: pushes.length });
  await adminPut(env.rootUrl, 'mirror/gh/repos/o/r/commits/abc', '{"message": "Not Found"}',
    { 'content-type': 'application/json', 'x-mirror-status': '404' });
  const before = (await admin(env.rootUrl, 'GET', 'requests')).body.last;

  const hit = await fetch(`${env.rootUrl}/__mirror/${key}`);
  assert.equal(hit.status, 200);
  assert.equal(hit.headers.get('content-type'), 'application/json');
  assert.equal(await hit.text(), pushes);
  const head = await rawGet(`${env.rootUrl}/__mirror/${key}`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], String(pushes.length));
  // Another query (even the same fields in another order) is another key.
  const other = await fetch(`${env.rootUrl}/__mirror/hg/mozilla-central/json-pushes` +
    '?version=2&changeset=abc&full=1');
  assert.equal(other.status, 404);
  assert.equal(await other.text(), 'not found');
  const configured = await fetch(`${env.rootUrl}/__mirror/gh/repos/o/r/commits/abc`);
  assert.equal(configured.status, 404);
  assert.deepEqual(await configured.json(), { message: 'Not Found' });

  const log = (await admin(env.rootUrl, 'GET', `requests?since=${before}`)).body;
  assert.deepEqual(log.requests.map((r) => [r.method, r.url, r.key, r.status]), [
    ['GET', `/__mirror/${key}`, 'mirror', 200],
    ['HEAD', `/__mirror/${key}`, 'mirror', 200],
    ['GET', '/__mirror/hg/mozilla-central/json-pushes?version=2&changeset=abc&full=1', 'mirror', 404],
    ['GET', '/__mirror/gh/repos/o/r/commits/abc', 'mirror', 404]]);
  assert.equal(log.last, before + 4);
  assert.equal((await admin(env.rootUrl, 'GET', 'stats')).body.requests.mirror, 4);
  assert.equal((await admin(env.rootUrl, 'GET', 'mirror')).body.entries.length, 2);

  assert.deepEqual((await admin(env.rootUrl, 'DELETE', 'mirror')).body, { removed: 2 });
  assert.equal((await fetch(`${env.rootUrl}/__mirror/${key}`)).status, 404);
  const noToken = await fetch(`${env.rootUrl}/__admin/mirror/x`, { method: 'PUT', body: 'x' });
  assert.equal(noToken.status, 401);
  const badStatus = await adminPut(env.rootUrl, 'mirror/x', 'x', { 'x-mirror-status': 'teapot' });
  assert.equal(badStatus.status, 400);
});

test('the request log hides bewits and storage signatures', async () => {
  const before = (await admin(env.rootUrl, 'GET', 'requests')).body.last;
  const queue = queueClient(env.rootUrl, tester);
  const url = queue.buildSignedUrl(queue.task, taskcluster.slugid());
  await fetch(url);
  const [entry] = (await admin(env.rootUrl, 'GET', `requests?since=${before}`)).body.requests;
  assert.equal(entry.key, 'task');
  assert.match(entry.url, /\?bewit=<redacted>$/);
  assert.ok(!entry.url.includes(new URL(url).searchParams.get('bewit')));
  assert.equal((await admin(env.rootUrl, 'GET', 'requests?since=-1')).status, 400);
});

test('refuse closes the port for a while, then listens again', async () => {
  const ping = () => fetch(`${env.rootUrl}/api/queue/v1/ping`);
  assert.equal((await ping()).status, 200);
  const t0 = Date.now();
  const res = await admin(env.rootUrl, 'POST', 'refuse', { ms: 400 });
  assert.deepEqual(res.body, { refusingMs: 400 });
  // A new connection (no pooled one) meets a closed port.
  const err = await rawGet(`${env.rootUrl}/api/queue/v1/ping`).then(() => null, (e) => e);
  assert.ok(err, 'a request while refusing succeeded');
  assert.equal(err.code, 'ECONNREFUSED');
  for (;;) {
    const ok = await ping().then((r) => r.status === 200, () => false);
    if (ok) {
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.ok(Date.now() - t0 >= 400, `listening again after ${Date.now() - t0} ms`);
  assert.equal((await admin(env.rootUrl, 'POST', 'refuse', { ms: -1 })).status, 400);
});
