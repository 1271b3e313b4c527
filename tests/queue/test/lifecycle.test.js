// Claim expiry, deadlines, cancellation and dependencies.  Time is moved with
// the admin API (POST /__admin/time) instead of sleeping.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  taskcluster, useServer, queueClient, tester, taskDef, createAndClaim, rejects,
  admin, uniqueQueue,
} from './helper.js';

const env = useServer();

afterEach(async () => {
  await admin(env.rootUrl, 'POST', 'time', { offsetMs: 0 });
});


const runs = (status) => status.runs.map((r) => [r.state, r.reasonCreated, r.reasonResolved]);

test('a claim not renewed expires as claim-expired and the task is retried', async () => {
  const { taskId, claim, queue, worker } = await createAndClaim(env.rootUrl, { retries: 1 });
  const tq = claim.task.taskQueueId;
  const advanced = await admin(env.rootUrl, 'POST', 'time', { advanceMs: 61 * 1000 });
  assert.equal(advanced.status, 200);
  const { status } = await queue.status(taskId);
  assert.deepEqual(runs(status), [
    ['exception', 'scheduled', 'claim-expired'], ['pending', 'retry', undefined]]);
  assert.equal(status.retriesLeft, 0);
  // The old run is gone for the worker (its credentials still work for 5 min).
  const err = await rejects(worker.reclaimTask(taskId, 0));
  assert.equal(err.statusCode, 409);
  assert.equal(err.code, 'RequestConflict');

  const second = await queue.claimWork(tq, { workerGroup: 'wg-1', workerId: 'wid-9', tasks: 1 });
  assert.equal(second.tasks[0].runId, 1);
  await admin(env.rootUrl, 'POST', 'time', { advanceMs: 61 * 1000 });
  const final = (await queue.status(taskId)).status;
  assert.equal(final.state, 'exception');
  assert.deepEqual(runs(final)[1], ['exception', 'retry', 'claim-expired']);
  assert.equal(final.runs.length, 2);
});

test('reclaim keeps the claim alive past the original takenUntil', async () => {
  const { taskId, worker } = await createAndClaim(env.rootUrl);
  await admin(env.rootUrl, 'POST', 'time', { advanceMs: 40 * 1000 });
  const re = await worker.reclaimTask(taskId, 0);
  await admin(env.rootUrl, 'POST', 'time', { advanceMs: 40 * 1000 });
  const again = await queueClient(env.rootUrl, re.credentials).reclaimTask(taskId, 0);
  assert.equal(again.status.state, 'running');
  assert.equal((await queueClient(env.rootUrl, again.credentials).reportCompleted(taskId, 0))
    .status.state, 'completed');
});

test('cancelTask: reclaim and reports answer 409; artifacts still allowed', async () => {
  const { taskId, queue, worker } = await createAndClaim(env.rootUrl);
  const canceled = await queue.cancelTask(taskId);
  assert.deepEqual(runs(canceled.status), [['exception', 'scheduled', 'canceled']]);
  const reclaim = await rejects(worker.reclaimTask(taskId, 0));
  assert.equal(reclaim.statusCode, 409);
  assert.equal(reclaim.code, 'RequestConflict');
  assert.equal((await rejects(worker.reportCompleted(taskId, 0))).statusCode, 409);
  // Within 25 minutes of an exception, artifacts (logs) may still be created.
  const res = await worker.createArtifact(taskId, 0, 'public/logs/live.log',
    { storageType: 'error', reason: 'file-missing-on-worker', message: 'gone',
      expires: taskcluster.fromNowJSON('1 day') });
  assert.deepEqual(res, { storageType: 'error' });
  // The admin route cancels too.
  const pendingId = taskcluster.slugid();
  await queue.createTask(pendingId, taskDef({ taskQueueId: uniqueQueue() }));
  const viaAdmin = await admin(env.rootUrl, 'POST', `tasks/${pendingId}/cancel`);
  assert.deepEqual(runs(viaAdmin.body.status), [['exception', 'scheduled', 'canceled']]);
  await admin(env.rootUrl, 'POST', 'time', { advanceMs: 26 * 60 * 1000 });
  // (The task credentials have expired by now; the tester still may.)
  const late = await rejects(queue.createArtifact(taskId, 0, 'public/late.log',
    { storageType: 'error', reason: 'file-missing-on-worker', message: 'gone',
      expires: taskcluster.fromNowJSON('1 day') }));
  assert.equal(late.statusCode, 409);
  // Cancel of a resolved task changes nothing.
  assert.deepEqual(runs((await queue.cancelTask(taskId)).status), runs(canceled.status));
});

test('deadline-exceeded resolves pending, running and unscheduled tasks', async () => {
  const queue = queueClient(env.rootUrl, tester);
  const deadline = taskcluster.fromNowJSON('10 minutes');
  const running = await createAndClaim(env.rootUrl, { deadline });
  const pendingId = taskcluster.slugid();
  await queue.createTask(pendingId, taskDef({ taskQueueId: uniqueQueue(), deadline }));
  const waitingId = taskcluster.slugid();
  await queue.createTask(waitingId, taskDef({ taskQueueId: uniqueQueue(), deadline,
    dependencies: [pendingId] }));
  assert.equal((await queue.status(waitingId)).status.state, 'unscheduled');
  // Stay under the claim timeout by reclaiming on the way.
  await admin(env.rootUrl, 'POST', 'time', { advanceMs: 50 * 1000 });
  let creds = (await running.worker.reclaimTask(running.taskId, 0)).credentials;
  for (let i = 0; i < 11; i++) {
    await admin(env.rootUrl, 'POST', 'time', { advanceMs: 50 * 1000 });
    const res = await queueClient(env.rootUrl, creds).reclaimTask(running.taskId, 0)
      .catch((err) => err);
    if (res instanceof Error) {
      assert.equal(res.statusCode, 409);
      break;
    }
    creds = res.credentials;
  }
  assert.deepEqual(runs((await queue.status(running.taskId)).status),
    [['exception', 'scheduled', 'deadline-exceeded']]);
  assert.deepEqual(runs((await queue.status(pendingId)).status),
    [['exception', 'scheduled', 'deadline-exceeded']]);
  assert.deepEqual(runs((await queue.status(waitingId)).status),
    [['exception', 'exception', 'deadline-exceeded']]);
  const cancel = await rejects(queue.cancelTask(pendingId));
  assert.equal(cancel.statusCode, 409);
});

test('dependencies: all-completed waits for completion, all-resolved for any end', async () => {
  const queue = queueClient(env.rootUrl, tester);
  const depQueue = uniqueQueue();
  const a = taskcluster.slugid();
  const b = taskcluster.slugid();
  await queue.createTask(a, taskDef({ taskQueueId: depQueue }));
  await queue.createTask(b, taskDef({ taskQueueId: depQueue }));
  const missing = await rejects(queue.createTask(taskcluster.slugid(),
    taskDef({ dependencies: [taskcluster.slugid()] })));
  assert.equal(missing.statusCode, 400);
  assert.equal(missing.code, 'InputError');

  const tq = uniqueQueue();
  const completed = taskcluster.slugid();
  const resolved = taskcluster.slugid();
  await queue.createTask(completed, taskDef({ taskQueueId: tq, dependencies: [a, b] }));
  await queue.createTask(resolved, taskDef({ taskQueueId: tq, dependencies: [a, b],
    requires: 'all-resolved' }));
  assert.equal((await queue.status(completed)).status.state, 'unscheduled');
  assert.deepEqual((await queue.claimWork(tq, { workerGroup: 'wg-1', workerId: 'w',
    tasks: 4 })).tasks, []);

  const claims = await queue.claimWork(depQueue, { workerGroup: 'wg-1', workerId: 'w', tasks: 2 });
  const byId = Object.fromEntries(claims.tasks.map((c) => [c.status.taskId, c]));
  await queueClient(env.rootUrl, byId[a].credentials).reportCompleted(a, 0);
  assert.equal((await queue.status(completed)).status.state, 'unscheduled');
  await queueClient(env.rootUrl, byId[b].credentials).reportFailed(b, 0);
  assert.equal((await queue.status(completed)).status.state, 'unscheduled');
  const st = (await queue.status(resolved)).status;
  assert.equal(st.state, 'pending');
  assert.deepEqual(runs(st), [['pending', 'scheduled', undefined]]);
  const claimed = await queue.claimWork(tq, { workerGroup: 'wg-1', workerId: 'w', tasks: 4 });
  assert.deepEqual(claimed.tasks.map((c) => c.status.taskId), [resolved]);
});
