// The worker's main path, driven with taskcluster-client exactly as against
// a real deployment: create, claim, reclaim, upload artifacts (s3 putUrl and
// the object service), report, and fetch the artifacts back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import {
  taskcluster, useServer, queueClient, tester, taskDef, createAndClaim, TASK_QUEUE,
  rejects,
} from './helper.js';

const env = useServer();


const TS_JSON = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

test('createTask fills defaults and answers status; task returns the definition', async () => {
  const queue = queueClient(env.rootUrl, tester);
  const taskId = taskcluster.slugid();
  const def = taskDef({ created: '2000-01-01T00:00:00Z' });
  const err = await rejects(queue.createTask(taskId, def));
  assert.equal(err.statusCode, 400);
  assert.equal(err.code, 'InputError');
  assert.match(err.message, /^Created timestamp must be within 15 minutes/);

  const created = new Date();
  const good = taskDef({ created: created.toISOString() });
  const { status } = await queue.createTask(taskId, good);
  assert.equal(status.state, 'pending');
  assert.equal(status.provisionerId, 'proj-releng');
  assert.equal(status.workerType, 'linux-signing');
  assert.equal(status.schedulerId, '-');
  assert.equal(status.projectId, 'none');
  assert.equal(status.taskGroupId, taskId);
  assert.equal(status.retriesLeft, 5);
  assert.deepEqual(status.runs.map((r) => [r.runId, r.state, r.reasonCreated]),
    [[0, 'pending', 'scheduled']]);

  const task = await queue.task(taskId);
  assert.equal(task.taskQueueId, TASK_QUEUE);
  assert.equal(task.created, created.toJSON());
  assert.match(task.deadline, TS_JSON);
  assert.deepEqual(task.dependencies, []);
  assert.equal(task.requires, 'all-completed');
  assert.equal(task.priority, 'lowest');
  assert.deepEqual(task.tags, {});

  // Idempotent for the same definition, 409 for another.
  const again = await queue.createTask(taskId, { ...good });
  assert.equal(again.status.taskId, taskId);
  const conflict = await rejects(queue.createTask(taskId, { ...good, payload: { other: true } }));
  assert.equal(conflict.statusCode, 409);
  assert.equal(conflict.code, 'RequestConflict');
});

test('claim, reclaim, upload s3 and object artifacts, complete, download', async () => {
  const { taskId, claim, worker, queue } = await createAndClaim(env.rootUrl,
    { scopes: ['secrets:get:project/releng/signing'] });
  assert.equal(claim.runId, 0);
  assert.equal(claim.workerGroup, 'wg-1');
  assert.equal(claim.workerId, 'wid-1');
  // claimWork's top-level takenUntil is Postgres's rendering.
  assert.match(claim.takenUntil, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$/);
  assert.equal(claim.status.runs[0].takenUntil, claim.takenUntil.replace('+00:00', 'Z'));
  assert.equal(claim.status.state, 'running');
  assert.equal(claim.task.payload.script, 'sign');
  const cert = JSON.parse(claim.credentials.certificate);
  const until = Date.parse(claim.takenUntil);
  assert.equal(claim.credentials.clientId,
    `task-client/${taskId}/0/on/wg-1/wid-1/until/${until / 1000}`);
  assert.equal(cert.issuer, 'static/taskcluster/queue');
  assert.equal(cert.expiry, until);
  assert.deepEqual(cert.scopes, [
    `queue:reclaim-task:${taskId}/0`, `queue:resolve-task:${taskId}/0`,
    `queue:create-artifact:${taskId}/0`, 'secrets:get:project/releng/signing']);

  const reclaim = await worker.reclaimTask(taskId, 0);
  assert.match(reclaim.takenUntil, TS_JSON);
  assert.notEqual(reclaim.credentials.accessToken, claim.credentials.accessToken);
  const worker2 = queueClient(env.rootUrl, reclaim.credentials);

  // s3: createArtifact, then PUT to the putUrl with the same Content-Type.
  const log = Buffer.from('hello from the task\n'.repeat(100));
  const expires = taskcluster.fromNowJSON('1 day');
  const s3 = await worker2.createArtifact(taskId, 0, 'public/logs/live.log',
    { storageType: 's3', contentType: 'text/plain; charset=utf-8', expires,
      contentLength: log.length });
  assert.equal(s3.storageType, 's3');
  assert.equal(s3.contentType, 'text/plain; charset=utf-8');
  const put = await fetch(s3.putUrl, { method: 'PUT', body: log,
    headers: { 'content-type': 'text/plain; charset=utf-8' } });
  assert.equal(put.status, 200);

  // object: the client's upload helper drives createUpload/finishUpload.
  const big = crypto.randomBytes(20000);
  const obj = await worker2.createArtifact(taskId, 0, 'private/build/target.tar.gz',
    { storageType: 'object', contentType: 'application/x-tar', expires });
  assert.equal(obj.name, `t/${taskId}/0/private/build/target.tar.gz`);
  assert.equal(obj.projectId, 'none');
  const objectClient = new taskcluster.Object({ rootUrl: env.rootUrl, credentials: obj.credentials, retries: 0 });
  await taskcluster.upload({
    projectId: obj.projectId, name: obj.name, contentType: 'application/x-tar',
    contentLength: big.length, expires: new Date(obj.expires), object: objectClient,
    streamFactory: async () => Readable.from([big]), uploadId: obj.uploadId,
  });
  // Not present before finishArtifact.
  const early = await rejects(queue.getArtifact(taskId, 0, 'private/build/target.tar.gz'));
  assert.equal(early.statusCode, 404);
  assert.equal(await worker2.finishArtifact(taskId, 0, 'private/build/target.tar.gz',
    { uploadId: obj.uploadId }), undefined);

  // A small object goes inline.
  const small = await worker2.createArtifact(taskId, 0, 'public/small.json',
    { storageType: 'object', contentType: 'application/json', expires });
  await taskcluster.upload({
    projectId: small.projectId, name: small.name, contentType: 'application/json',
    contentLength: 7, expires: new Date(small.expires),
    object: new taskcluster.Object({ rootUrl: env.rootUrl, credentials: small.credentials, retries: 0 }),
    streamFactory: async () => Readable.from([Buffer.from('{"a":1}')]), uploadId: small.uploadId,
  });
  await worker2.finishArtifact(taskId, 0, 'public/small.json', { uploadId: small.uploadId });

  const done = await worker2.reportCompleted(taskId, 0);
  assert.equal(done.status.state, 'completed');
  assert.equal(done.status.runs[0].reasonResolved, 'completed');
  // Idempotent.
  assert.equal((await worker2.reportCompleted(taskId, 0)).status.state, 'completed');

  // The API client returns the 303 body; plain HTTP follows the redirect.
  const anon = queueClient(env.rootUrl, {});
  const res = await anon.getArtifact(taskId, 0, 'public/logs/live.log');
  assert.equal(res.storageType, 's3');
  const raw = await fetch(anon.buildUrl(anon.getArtifact, taskId, 0, 'public/logs/live.log'),
    { redirect: 'manual' });
  assert.equal(raw.status, 303);
  assert.equal(raw.headers.get('location'), res.url);
  assert.equal(raw.headers.get('x-taskcluster-artifact-storage-type'), 's3');
  const followed = await fetch(anon.buildUrl(anon.getLatestArtifact, taskId,
    'public/logs/live.log'));
  assert.equal(followed.status, 200);
  assert.equal(followed.headers.get('content-type'), 'text/plain; charset=utf-8');
  assert.deepEqual(Buffer.from(await followed.arrayBuffer()), log);

  // Private artifact: a bewit-signed URL with the tester's credentials.
  const signed = queueClient(env.rootUrl, tester).buildSignedUrl(
    queue.getArtifact, taskId, 0, 'private/build/target.tar.gz');
  const got = await fetch(signed);
  assert.equal(got.status, 200);
  assert.deepEqual(Buffer.from(await got.arrayBuffer()), big);
  const unsigned = await fetch(anon.buildUrl(anon.getArtifact, taskId, 0,
    'private/build/target.tar.gz'));
  assert.equal(unsigned.status, 403);

  // The client's download helper: object (getUrl, hashes checked) and s3.
  const chunks = [];
  const sink = () => new Writable({ write(c, e, cb) { chunks.push(c); cb(); } });
  const ct = await taskcluster.downloadArtifact({ taskId, runId: 0,
    name: 'private/build/target.tar.gz', queue, streamFactory: async () => sink() });
  assert.equal(ct, 'application/x-tar');
  assert.deepEqual(Buffer.concat(chunks), big);
  chunks.length = 0;
  await taskcluster.downloadArtifact({ taskId, name: 'public/small.json', queue: anon,
    streamFactory: async () => sink() });
  assert.equal(Buffer.concat(chunks).toString(), '{"a":1}');

  const list = await queue.listArtifacts(taskId, 0);
  assert.deepEqual(list.artifacts.map((a) => [a.name, a.storageType, a.contentType]), [
    ['private/build/target.tar.gz', 'object', 'application/x-tar'],
    ['public/logs/live.log', 's3', 'text/plain; charset=utf-8'],
    ['public/small.json', 'object', 'application/json'],
  ]);
  assert.equal(list.artifacts[1].contentLength, log.length);
  assert.equal(list.continuationToken, undefined);
});

test('s3 putUrl checks Content-Type and Content-Length like S3', async () => {
  const { taskId, worker } = await createAndClaim(env.rootUrl);
  const s3 = await worker.createArtifact(taskId, 0, 'public/a.txt',
    { storageType: 's3', contentType: 'text/plain', expires: taskcluster.fromNowJSON('1 day') });
  const wrongType = await fetch(s3.putUrl, { method: 'PUT', body: 'x',
    headers: { 'content-type': 'text/plain; charset=utf-8' } });
  assert.equal(wrongType.status, 403);
  assert.match(await wrongType.text(), /<Code>SignatureDoesNotMatch<\/Code>/);
  const chunked = await fetch(s3.putUrl, { method: 'PUT', duplex: 'half',
    body: Readable.toWeb(Readable.from([Buffer.from('abc')])),
    headers: { 'content-type': 'text/plain' } });
  assert.equal(chunked.status, 411);
  assert.match(await chunked.text(), /<Code>MissingContentLength<\/Code>/);
  const gz = await fetch(s3.putUrl, { method: 'PUT', body: 'abc',
    headers: { 'content-type': 'text/plain', 'content-encoding': 'gzip' } });
  assert.equal(gz.status, 200);
  const back = await fetch(new URL(`/__storage/s3/public/${taskId}/0/public/a.txt`, env.rootUrl),
    { method: 'HEAD' });
  assert.equal(back.headers.get('content-encoding'), 'gzip');
  assert.equal(back.headers.get('content-length'), '3');
});

test('reportFailed and reportException with retries', async () => {
  const a = await createAndClaim(env.rootUrl);
  assert.equal((await a.worker.reportFailed(a.taskId, 0)).status.state, 'failed');

  const b = await createAndClaim(env.rootUrl, { retries: 1 });
  const r1 = await b.worker.reportException(b.taskId, 0, { reason: 'worker-shutdown' });
  assert.equal(r1.status.state, 'pending');
  assert.equal(r1.status.retriesLeft, 0);
  assert.deepEqual(r1.status.runs.map((r) => [r.state, r.reasonCreated, r.reasonResolved]), [
    ['exception', 'scheduled', 'worker-shutdown'], ['pending', 'retry', undefined]]);
  // Same reason again is accepted; another report on the old run conflicts.
  await b.worker.reportException(b.taskId, 0, { reason: 'worker-shutdown' });
  assert.equal((await rejects(b.worker.reportCompleted(b.taskId, 0))).statusCode, 409);

  const bad = await rejects(b.queue.reportException(b.taskId, 0, { reason: 'superseded' }));
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.code, 'InputValidationError');
  assert.match(bad.message, /must be equal to one of the allowed values/);
});

test('claimWork long-polls and wakes up on createTask', async () => {
  const queue = queueClient(env.rootUrl, tester);
  const tq = 'proj-releng/long-poll';
  const empty = await queue.claimWork(tq, { workerGroup: 'wg-1', workerId: 'wid-2', tasks: 1 });
  assert.deepEqual(empty, { tasks: [] });
  const pending = queue.claimWork(tq, { workerGroup: 'wg-1', workerId: 'wid-2', tasks: 4 });
  const taskId = taskcluster.slugid();
  await new Promise((resolve) => setTimeout(resolve, 100));
  await queue.createTask(taskId, taskDef({ taskQueueId: tq }));
  const res = await pending;
  assert.deepEqual(res.tasks.map((t) => t.status.taskId), [taskId]);
});

test('claimWork order: priority, then age', async () => {
  const queue = queueClient(env.rootUrl, tester);
  const tq = 'proj-releng/priorities';
  const ids = {};
  for (const p of ['low', 'highest', 'low', 'medium']) {
    const id = taskcluster.slugid();
    ids[id] = p;
    await queue.createTask(id, taskDef({ taskQueueId: tq, priority: p }));
  }
  const res = await queue.claimWork(tq, { workerGroup: 'wg-1', workerId: 'wid-3', tasks: 32 });
  assert.deepEqual(res.tasks.map((t) => ids[t.status.taskId]), ['highest', 'medium', 'low', 'low']);
  const lows = Object.keys(ids).filter((id) => ids[id] === 'low');
  assert.deepEqual(res.tasks.slice(2).map((t) => t.status.taskId), lows);
});
