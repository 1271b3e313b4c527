// Artifact semantics: paging, names and task queues with "/", error and link
// artifacts, private artifacts behind scopes, re-creation rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import hawk from 'hawk';
import {
  taskcluster, useServer, queueClient, tester, createAndClaim, rejects,
} from './helper.js';

const env = useServer();


const expires = () => taskcluster.fromNowJSON('1 day');

test('listArtifacts pages through 2,500 artifacts with continuationToken and limit', async () => {
  const { taskId, worker, queue } = await createAndClaim(env.rootUrl);
  const names = [];
  for (let i = 0; i < 2500; i++) {
    names.push(`public/many/${String(i).padStart(4, '0')}.txt`);
  }
  // 25 requests at a time keeps the test quick without flooding the env.server.
  for (let i = 0; i < names.length; i += 25) {
    await Promise.all(names.slice(i, i + 25).map((name) => worker.createArtifact(taskId, 0, name,
      { storageType: 'reference', url: 'https://example.com/x', contentType: 'text/plain',
        expires: expires() })));
  }
  const seen = [];
  const pages = [];
  let token;
  do {
    const page = await queue.listArtifacts(taskId, 0, token ? { continuationToken: token } : {});
    pages.push(page.artifacts.length);
    seen.push(...page.artifacts.map((a) => a.name));
    token = page.continuationToken;
  } while (token);
  assert.deepEqual(pages, [1000, 1000, 500]);
  assert.deepEqual(seen, names);

  const small = await queue.listLatestArtifacts(taskId, { limit: 7 });
  assert.equal(small.artifacts.length, 7);
  const next = await queue.listLatestArtifacts(taskId,
    { limit: 7, continuationToken: small.continuationToken });
  assert.deepEqual(next.artifacts.map((a) => a.name), names.slice(7, 14));

  const badLimit = await rejects(queue.listArtifacts(taskId, 0, { limit: 'ten' }));
  assert.equal(badLimit.statusCode, 400);
  assert.equal(badLimit.code, 'InvalidRequestArguments');
  const noRun = await rejects(queue.listArtifacts(taskId, 3));
  assert.equal(noRun.statusCode, 404);
});

test('"/" in taskQueueId and artifact names: %2F and raw both accepted', async () => {
  const { taskId, claim, worker } = await createAndClaim(env.rootUrl);
  const tq = claim.task.taskQueueId;
  const raw = await fetch(`${env.rootUrl}/api/queue/v1/pending/${tq}`, {
    headers: { authorization: hawk.client.header(`${env.rootUrl}/api/queue/v1/pending/${tq}`, 'GET',
      { credentials: { id: 'tester', key: 'no-secret', algorithm: 'sha256' } }).header } });
  assert.equal(raw.status, 200);
  assert.equal((await raw.json()).taskQueueId, tq);

  await worker.createArtifact(taskId, 0, 'public/dir/sub/file.txt',
    { storageType: 'reference', url: 'https://example.com/file.txt', contentType: 'text/plain',
      expires: expires() });
  const encoded = `${env.rootUrl}/api/queue/v1/task/${taskId}/runs/0/artifacts/public%2Fdir%2Fsub%2Ffile.txt`;
  const plain = `${env.rootUrl}/api/queue/v1/task/${taskId}/runs/0/artifacts/public/dir/sub/file.txt`;
  for (const url of [encoded, plain]) {
    const res = await fetch(url, { redirect: 'manual' });
    assert.equal(res.status, 303, url);
    assert.equal(res.headers.get('location'), 'https://example.com/file.txt');
    assert.deepEqual(await res.json(),
      { storageType: 'reference', url: 'https://example.com/file.txt' });
  }
  // A raw "/" in a created name reaches the same artifact.
  const creds = worker._options.credentials;
  const url = `${env.rootUrl}/api/queue/v1/task/${taskId}/runs/0/artifacts/public/raw/name.txt`;
  const ext = Buffer.from(JSON.stringify({ certificate: JSON.parse(creds.certificate) }))
    .toString('base64');
  const { header } = hawk.client.header(url, 'POST', { ext,
    credentials: { id: creds.clientId, key: creds.accessToken, algorithm: 'sha256' } });
  const created = await fetch(url, { method: 'POST', headers: { authorization: header,
    'content-type': 'application/json' }, body: JSON.stringify({ storageType: 'error',
    reason: 'file-missing-on-worker', message: 'no such file', expires: expires() }) });
  assert.equal(created.status, 200);
  const info = await queueClient(env.rootUrl, tester).artifactInfo(taskId, 0, 'public/raw/name.txt');
  assert.equal(info.storageType, 'error');
});

test('error artifacts answer 424; links redirect to their target', async () => {
  const { taskId, worker, queue } = await createAndClaim(env.rootUrl);
  await worker.createArtifact(taskId, 0, 'public/missing.log', { storageType: 'error',
    reason: 'file-missing-on-worker', message: 'the file was not there', expires: expires() });
  const res = await fetch(queue.buildUrl(queue.getArtifact, taskId, 0, 'public/missing.log'));
  assert.equal(res.status, 424);
  assert.deepEqual(await res.json(),
    { reason: 'file-missing-on-worker', message: 'the file was not there' });
  const content = await queue.artifact(taskId, 0, 'public/missing.log');
  assert.deepEqual(content, { storageType: 'error', reason: 'file-missing-on-worker',
    message: 'the file was not there' });

  const s3 = await worker.createArtifact(taskId, 0, 'public/logs/chain_of_trust.log',
    { storageType: 's3', contentType: 'text/plain', expires: expires() });
  assert.equal((await fetch(s3.putUrl, { method: 'PUT', body: 'audit',
    headers: { 'content-type': 'text/plain' } })).status, 200);
  await worker.createArtifact(taskId, 0, 'public/logs/live_backing.log',
    { storageType: 'link', artifact: 'public/logs/chain_of_trust.log', expires: expires() });
  const link = await fetch(queue.buildUrl(queue.getArtifact, taskId, 0,
    'public/logs/live_backing.log'), { redirect: 'manual' });
  assert.equal(link.status, 303);
  assert.equal(link.headers.get('x-taskcluster-artifact-storage-type'), 's3');
  const followed = await fetch(link.headers.get('location'));
  assert.equal(await followed.text(), 'audit');

  // A link into a private artifact needs the scope for the target too.
  await worker.createArtifact(taskId, 0, 'private/secret.txt',
    { storageType: 'reference', url: 'https://example.com/s', contentType: 'text/plain',
      expires: expires() });
  await worker.createArtifact(taskId, 0, 'public/to-secret',
    { storageType: 'link', artifact: 'private/secret.txt', expires: expires() });
  const anon = queueClient(env.rootUrl, {});
  const denied = await rejects(anon.getArtifact(taskId, 0, 'public/to-secret'));
  assert.equal(denied.statusCode, 403);
  assert.match(denied.message, /queue:get-artifact:private\/secret\.txt/);
  assert.equal((await queue.getArtifact(taskId, 0, 'public/to-secret')).url,
    'https://example.com/s');

  // A cycle is an input error.
  await worker.createArtifact(taskId, 0, 'public/c1',
    { storageType: 'link', artifact: 'public/c2', expires: expires() });
  await worker.createArtifact(taskId, 0, 'public/c2',
    { storageType: 'link', artifact: 'public/c1', expires: expires() });
  const cycle = await rejects(queue.getArtifact(taskId, 0, 'public/c1'));
  assert.equal(cycle.statusCode, 400);
  assert.match(cycle.message, /^Artifact leads to a link cycle/);
});

test('createArtifact re-creation rules and input errors', async () => {
  const { taskId, worker } = await createAndClaim(env.rootUrl);
  const e = expires();
  const first = await worker.createArtifact(taskId, 0, 'public/a.bin',
    { storageType: 's3', contentType: 'application/octet-stream', expires: e });
  const again = await worker.createArtifact(taskId, 0, 'public/a.bin',
    { storageType: 's3', contentType: 'application/octet-stream', expires: e });
  assert.equal(again.storageType, 's3');
  assert.equal(typeof first.putUrl, 'string');
  const other = await rejects(worker.createArtifact(taskId, 0, 'public/a.bin',
    { storageType: 's3', contentType: 'text/plain', expires: e }));
  assert.equal(other.statusCode, 409);
  assert.match(other.message, /^Artifact already exists with different properties/);
  await worker.createArtifact(taskId, 0, 'public/ref',
    { storageType: 'reference', url: 'https://a.example/', contentType: 'text/plain', expires: e });
  await worker.createArtifact(taskId, 0, 'public/ref',
    { storageType: 'reference', url: 'https://b.example/', contentType: 'text/plain', expires: e });
  await worker.createArtifact(taskId, 0, 'public/ref',
    { storageType: 'link', artifact: 'public/a.bin', expires: e });

  const tooLate = await rejects(worker.createArtifact(taskId, 0, 'public/b.bin',
    { storageType: 's3', contentType: 'text/plain', expires: taskcluster.fromNowJSON('2 years') }));
  assert.equal(tooLate.statusCode, 400);
  assert.equal(tooLate.code, 'InputError');
  const badReason = await rejects(worker.createArtifact(taskId, 0, 'public/c',
    { storageType: 'error', reason: 'oops', message: 'x', expires: e }));
  assert.equal(badReason.code, 'InputValidationError');
  const tester0 = queueClient(env.rootUrl, tester);
  const noTask = await rejects(tester0.createArtifact(taskcluster.slugid(), 0, 'public/x',
    { storageType: 'error', reason: 'file-missing-on-worker', message: 'x', expires: e }));
  assert.equal(noTask.statusCode, 400);
  assert.match(noTask.message, /^Task not found/);
});
