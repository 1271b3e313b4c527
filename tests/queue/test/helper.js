// Test helpers: an in-process emulator per test file, clients of the official
// taskcluster-client, and a check that no response failed its schema.
import assert from 'node:assert/strict';
import http from 'node:http';
import { before, after } from 'node:test';
import taskcluster from 'taskcluster-client';
import { QueueServer } from '../lib/app.js';

export { taskcluster };

export const ADMIN_TOKEN = 'test-admin-token';

export const CLIENTS = [
  { clientId: 'tester', accessToken: 'no-secret', scopes: ['*'] },
  // A worker identity with exactly the scopes a worker of proj-releng/linux-signing needs.
  { clientId: 'worker', accessToken: 'worker-secret', scopes: [
    'queue:claim-work:proj-releng/*', 'queue:worker-id:wg-1/*'] },
  { clientId: 'creator', accessToken: 'creator-secret', scopes: [
    'queue:create-task:lowest:proj-releng/*', 'queue:create-task:project:none',
    'queue:scheduler-id:-'] },
  { clientId: 'nobody', accessToken: 'nobody-secret', scopes: [] },
  { clientId: 'retired', accessToken: 'retired-secret', scopes: ['*'],
    expires: '2000-01-01T00:00:00.000Z' },
];

export const TASK_QUEUE = 'proj-releng/linux-signing';

export const startServer = async (options = {}) => {
  const logs = [];
  const server = new QueueServer({
    clients: CLIENTS,
    adminToken: ADMIN_TOKEN,
    claimSeconds: 60,
    pollSeconds: 2,
    log: (line) => logs.push(line),
    ...options,
  });
  const rootUrl = await server.start();
  server.logs = logs;
  return { server, rootUrl };
};

// Every test file ends with this: the emulator never sent (and so never had
// to replace) a response that breaks its schema.
export const stopServer = async (server) => {
  const stats = server.stats();
  await server.stop();
  assert.equal(stats.responseSchemaFailures, 0,
    `response schema failures: ${JSON.stringify(stats.responseSchemaFailureDetails, null, 2)}`);
  assert.equal(stats.internalErrors, 0, `internal errors: ${server.logs.join('\n')}`);
};

// Registers hooks that start an emulator before a file's tests and stop it
// (checking the schema counters) after them; returns an object whose
// `server` and `rootUrl` are set once it runs.
export const useServer = (options = {}) => {
  const env = { server: null, rootUrl: null };
  before(async () => {
    Object.assign(env, await startServer(options));
  });
  after(async () => {
    taskcluster.agents.http.destroy();
    await stopServer(env.server);
  });
  return env;
};

export const queueClient = (rootUrl, credentials, extra = {}) =>
  new taskcluster.Queue({ rootUrl, credentials, retries: 0, ...extra });

export const tester = { clientId: 'tester', accessToken: 'no-secret' };

export const taskDef = (overrides = {}) => ({
  taskQueueId: TASK_QUEUE,
  created: taskcluster.fromNowJSON(),
  deadline: taskcluster.fromNowJSON('1 day'),
  payload: { script: 'sign' },
  metadata: {
    name: 'test task',
    description: 'a task for the emulator tests',
    owner: 'releng@example.com',
    source: 'https://github.com/mozilla-releng/scriptworker',
  },
  ...overrides,
});

// Plain JSON calls to the admin API, as the Lua tests make them.
export const admin = async (rootUrl, method, path, body) => {
  const res = await fetch(`${rootUrl}/__admin/${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
};

// An admin call whose body is raw bytes (seeded artifacts, mirror entries);
// returns the status and the decoded JSON answer.
export const adminPut = async (rootUrl, path, bytes, headers = {}) => {
  const res = await fetch(`${rootUrl}/__admin/${path}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...headers },
    body: bytes,
  });
  return { status: res.status, body: await res.json() };
};

// One raw GET with node:http (no decoding of Content-Encoding, no retries):
// {status, headers, body (Buffer), error (set when the reply was cut)}.
export const rawGet = (url, { method = 'GET' } = {}) => new Promise((resolve, reject) => {
  const req = http.request(url, { method, agent: false }, (res) => {
    const chunks = [];
    const done = (error) => resolve({ status: res.statusCode, headers: res.headers,
      body: Buffer.concat(chunks), error });
    res.on('data', (c) => chunks.push(c));
    res.on('end', () => done(null));
    res.on('aborted', () => done(new Error('aborted')));
    res.on('error', (err) => done(err));
  });
  req.on('error', reject);
  req.end();
});

// Creates a task with the tester client and claims it as wg-1/wid-1; returns
// the claim and a Queue client using the task's temporary credentials.
// Each call uses a task queue of its own, so tests never claim each other's
// tasks.
let queueCounter = 0;
export const uniqueQueue = () => `proj-releng/q${++queueCounter}`;

export const createAndClaim = async (rootUrl, overrides = {}) => {
  const queue = queueClient(rootUrl, tester);
  const taskId = taskcluster.slugid();
  overrides = { taskQueueId: uniqueQueue(), ...overrides };
  await queue.createTask(taskId, taskDef(overrides));
  const res = await queue.claimWork(overrides.taskQueueId,
    { workerGroup: 'wg-1', workerId: 'wid-1', tasks: 1 });
  assert.equal(res.tasks.length, 1);
  const claim = res.tasks[0];
  assert.equal(claim.status.taskId, taskId);
  return { taskId, claim, queue, worker: queueClient(rootUrl, claim.credentials) };
};

// Rejects with the taskcluster-client error; returns it for assertions.
export const rejects = async (promise) => {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new assert.AssertionError({ message: 'expected the call to fail' });
};
