// Authentication and authorization as the real services answer them: 401
// with the Auth service's messages, 403 naming the missing scope expression,
// certificates, authorizedScopes, bewits and the anonymous role.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import hawk from 'hawk';
import {
  taskcluster, useServer, queueClient, tester, taskDef, createAndClaim, rejects,
  uniqueQueue,
} from './helper.js';

const env = useServer();


const TRAILER = /\n\n---\n\n\* method: {5}(\w+)\n\* errorCode: {2}(\w+)\n\* statusCode: (\d+)\n\* time: {7}\S+$/;

test('wrong accessToken: 401 AuthenticationFailed with the server message', async () => {
  const queue = queueClient(env.rootUrl, { clientId: 'tester', accessToken: 'wrong' });
  const err = await rejects(queue.task(taskcluster.slugid()));
  assert.equal(err.statusCode, 401);
  assert.equal(err.code, 'AuthenticationFailed');
  assert.match(err.message, /^Unauthorized: Bad mac\n/);
  const [, method, code, status] = TRAILER.exec(err.message);
  assert.deepEqual([method, code, status], ['task', 'AuthenticationFailed', '401']);
  assert.equal(err.body.requestInfo.method, 'task');

  const unknown = await rejects(queueClient(env.rootUrl, { clientId: 'ghost', accessToken: 'x' })
    .task(taskcluster.slugid()));
  assert.equal(unknown.statusCode, 401);
  assert.match(unknown.message, /^Client with clientId 'ghost' not found\n/);

  const expired = await rejects(queueClient(env.rootUrl,
    { clientId: 'retired', accessToken: 'retired-secret' }).task(taskcluster.slugid()));
  assert.match(expired.message, /^Client with clientId 'retired' has expired\n/);

  const staleUrl = `${env.rootUrl}/api/queue/v1/task/${taskcluster.slugid()}`;
  const stale = hawk.client.header(staleUrl, 'GET', { timestamp: Math.floor(Date.now() / 1000) - 901,
    credentials: { id: 'tester', key: 'no-secret', algorithm: 'sha256' } });
  const res = await fetch(staleUrl, { headers: { authorization: stale.header } });
  assert.equal(res.status, 401);
  assert.equal(res.headers.get('www-authenticate'), 'hawk');
  assert.match((await res.json()).message, /^Unauthorized: Stale timestamp\n/);

  const long = await fetch(`${env.rootUrl}/api/queue/v1/task/${taskcluster.slugid()}`,
    { headers: { authorization: `Hawk id="${'a'.repeat(4100)}", ts="1", nonce="x", mac="y"` } });
  assert.match((await long.json()).message, /^Bad Request: Header length too long\n/);
});

test('missing scope: 403 InsufficientScopes naming the expression', async () => {
  const nobody = queueClient(env.rootUrl, { clientId: 'nobody', accessToken: 'nobody-secret' });
  const taskId = taskcluster.slugid();
  const err = await rejects(nobody.status(taskId));
  assert.equal(err.statusCode, 403);
  assert.equal(err.code, 'InsufficientScopes');
  assert.ok(err.message.startsWith('Client ID nobody does not have sufficient scopes and is ' +
    `missing the following scopes:\n\n\`\`\`\nqueue:status:${taskId}\n\`\`\``), err.message);

  // URL-only scope checks run before the handler: 403 even for a missing task.
  const reclaim = await rejects(nobody.reclaimTask(taskId, 0));
  assert.equal(reclaim.statusCode, 403);
  assert.match(reclaim.message, new RegExp(`queue:reclaim-task:${taskId}/0`));

  // Deferred checks (claimWork) see the body; the creator lacks a priority.
  const creator = queueClient(env.rootUrl, { clientId: 'creator', accessToken: 'creator-secret' });
  const tq = uniqueQueue();
  await creator.createTask(taskcluster.slugid(), taskDef({ taskQueueId: tq }));
  const high = await rejects(creator.createTask(taskcluster.slugid(),
    taskDef({ taskQueueId: tq, priority: 'high' })));
  assert.equal(high.statusCode, 403);
  assert.match(high.message, /"AnyOf": \[\n\s+"queue:create-task:highest:proj-releng\//);

  const worker = queueClient(env.rootUrl, { clientId: 'worker', accessToken: 'worker-secret' });
  const claim = await worker.claimWork(tq, { workerGroup: 'wg-1', workerId: 'w', tasks: 1 });
  assert.equal(claim.tasks.length, 1);
  const otherGroup = await rejects(worker.claimWork(tq,
    { workerGroup: 'wg-2', workerId: 'w', tasks: 1 }));
  assert.equal(otherGroup.statusCode, 403);
  assert.match(otherGroup.message, /queue:worker-id:wg-2\/w/);
});

test('task credentials: scoped to their run, refused once expired', async () => {
  const { taskId, claim, worker } = await createAndClaim(env.rootUrl);
  const other = await rejects(worker.status(taskcluster.slugid()));
  assert.equal(other.statusCode, 403);

  // Move the emulator clock past takenUntil + 5 minutes: the certificate is
  // then refused, before the claim-expired run even matters.
  const cert = JSON.parse(claim.credentials.certificate);
  env.server.clock.advance(cert.expiry - Date.now() + 6 * 60 * 1000);
  const err = await rejects(worker.reclaimTask(taskId, 0));
  assert.equal(err.statusCode, 401);
  assert.match(err.message, /^ext\.certificate\.expiry < now\n/);
  env.server.clock.offsetMs = 0;
});

test('--cert-skew-seconds 0: a claim\'s credentials end with it, the reclaim\'s go on', async () => {
  const { taskId, claim, worker } = await createAndClaim(env.rootUrl);
  const first = JSON.parse(claim.credentials.certificate);
  // Half a claim later, a reclaim hands out credentials that last longer.
  env.server.clock.advance((first.expiry - Date.now()) / 2);
  const re = await worker.reclaimTask(taskId, 0);
  const second = JSON.parse(re.credentials.certificate);
  assert.ok(second.expiry > first.expiry);
  env.server.auth.certSkewMs = 0;
  try {
    // Past the first expiry, before the second.
    env.server.clock.advance(first.expiry - env.server.clock.now() + (second.expiry - first.expiry) / 2);
    const err = await rejects(worker.reclaimTask(taskId, 0));
    assert.equal(err.statusCode, 401);
    assert.match(err.message, /^ext\.certificate\.expiry < now\n/);
    const fresh = queueClient(env.rootUrl, re.credentials);
    assert.equal((await fresh.reclaimTask(taskId, 0)).status.taskId, taskId);
  } finally {
    env.server.auth.certSkewMs = 5 * 60 * 1000;
    env.server.clock.offsetMs = 0;
  }
});

test('temporary credentials made by a client; signature and issuer checks', async () => {
  const temp = taskcluster.createTemporaryCredentials({
    expiry: taskcluster.fromNow('1 hour'), scopes: ['queue:status:*'], credentials: tester });
  const taskId = taskcluster.slugid();
  await queueClient(env.rootUrl, tester).createTask(taskId, taskDef({ taskQueueId: uniqueQueue() }));
  assert.equal((await queueClient(env.rootUrl, temp).status(taskId)).status.taskId, taskId);
  const denied = await rejects(queueClient(env.rootUrl, temp).task(taskId));
  assert.equal(denied.statusCode, 403);

  const cert = JSON.parse(temp.certificate);
  cert.scopes = ['queue:get-task:*'];
  const forged = await rejects(queueClient(env.rootUrl,
    { ...temp, certificate: JSON.stringify(cert) }).task(taskId));
  assert.equal(forged.statusCode, 401);
  assert.match(forged.message, /^ext\.certificate\.signature is not valid\n/);

  const tooMuch = taskcluster.createTemporaryCredentials({ expiry: taskcluster.fromNow('1 hour'),
    scopes: ['queue:status:*'], credentials: { clientId: 'nobody', accessToken: 'nobody-secret' } });
  const err = await rejects(queueClient(env.rootUrl, tooMuch).status(taskId));
  assert.equal(err.statusCode, 401);
  assert.match(err.message, /^ext\.certificate issuer `nobody` doesn't satisfy all certificate scopes queue:status:\*\./);

  const late = taskcluster.createTemporaryCredentials({ start: taskcluster.fromNow('10 minutes'),
    expiry: taskcluster.fromNow('1 hour'), scopes: ['queue:status:*'], credentials: tester });
  assert.match((await rejects(queueClient(env.rootUrl, late).status(taskId))).message,
    /^ext\.certificate\.start > now\n/);
});

test('authorizedScopes narrow the request', async () => {
  const taskId = taskcluster.slugid();
  await queueClient(env.rootUrl, tester).createTask(taskId, taskDef({ taskQueueId: uniqueQueue() }));
  const narrowed = queueClient(env.rootUrl, tester, { authorizedScopes: [`queue:status:${taskId}`] });
  assert.equal((await narrowed.status(taskId)).status.taskId, taskId);
  assert.equal((await rejects(narrowed.task(taskId))).statusCode, 403);
  const tooWide = queueClient(env.rootUrl, { clientId: 'nobody', accessToken: 'nobody-secret' },
    { authorizedScopes: ['queue:status:*'] });
  const err = await rejects(tooWide.status(taskId));
  assert.equal(err.statusCode, 401);
  assert.match(err.message, /^Supplied credentials do not satisfy authorizedScopes/);
});

test('ext in the URL-safe alphabet and a payload hash are accepted; a bad hash is not', async () => {
  const taskId = taskcluster.slugid();
  await queueClient(env.rootUrl, tester).createTask(taskId, taskDef({ taskQueueId: uniqueQueue() }));
  const url = `${env.rootUrl}/api/queue/v1/task/${taskId}/status`;
  const call = async (opts, body) => {
    const { header } = hawk.client.header(url, body ? 'POST' : 'GET', {
      credentials: { id: 'tester', key: 'no-secret', algorithm: 'sha256' }, ...opts });
    return fetch(url, { headers: { authorization: header } });
  };
  // Python clients always send ext, base64url-encoded: {} is "e30=".
  assert.equal((await call({ ext: 'e30=' })).status, 200);
  // "~~~" encodes to "fn5-" in the URL-safe alphabet.
  const ext = Buffer.from(JSON.stringify({ authorizedScopes: [`queue:status:${taskId}`, '~~~'] }))
    .toString('base64url');
  assert.match(ext, /[-_]/);
  assert.equal((await call({ ext })).status, 200);
  assert.equal((await call({ payload: '', contentType: '' })).status, 200);
  const bad = await call({ hash: 'B0weSUXsMcb5UhL41FZbrUJCAotzSI3HawE1NPLRUz9=' });
  assert.equal(bad.status, 401);
  assert.match((await bad.json()).message, /^Invalid payload hash: /);
});

test('anonymous callers get the anonymous role; both auth schemes at once is 401', async () => {
  const anon = queueClient(env.rootUrl, {});
  const err = await rejects(anon.status(taskcluster.slugid()));
  assert.equal(err.statusCode, 403);
  assert.match(err.message, /^Client ID anonymous does not have sufficient scopes/);
  const signed = queueClient(env.rootUrl, tester).buildSignedUrl(anon.status, taskcluster.slugid());
  const { header } = hawk.client.header(signed, 'GET',
    { credentials: { id: 'tester', key: 'no-secret', algorithm: 'sha256' } });
  const both = await fetch(signed, { headers: { authorization: header } });
  assert.equal(both.status, 401);
  assert.match((await both.json()).message, /^Cannot use two authentication schemes at once/);
});
