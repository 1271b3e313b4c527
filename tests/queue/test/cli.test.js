// server.js and admin.js as other programs use them: spawned, rootUrl on the
// first stdout line, SIGTERM, state kept across a restart.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CLIENTS, taskcluster, queueClient, tester, taskDef } from './helper.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const SERVER = path.join(here, '..', 'server.js');
const ADMIN = path.join(here, '..', 'admin.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'queue-cli-test-'));
const clientsFile = path.join(tmp, 'clients.json');
fs.writeFileSync(clientsFile, JSON.stringify({ clients: CLIENTS, roles: {} }));

after(() => {
  taskcluster.agents.http.destroy();
  fs.rmSync(tmp, { recursive: true, force: true });
});

// Starts server.js; resolves {child, rootUrl, exited} once the first line is read.
const start = async (args) => {
  const child = spawn(process.execPath, [SERVER, '--port', '0', '--clients', clientsFile,
    '--admin-token', 'cli-token', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve({ code, stderr })));
  const lines = readline.createInterface({ input: child.stdout });
  const rootUrl = await new Promise((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', () => reject(new Error(`server exited early: ${stderr}`)));
  });
  return { child, rootUrl, exited };
};

test('prints its rootUrl first, serves, and exits 0 on SIGTERM', async () => {
  const { child, rootUrl, exited } = await start(['--strict']);
  assert.match(rootUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
  const ping = await fetch(`${rootUrl}/api/queue/v1/ping`);
  assert.equal((await ping.json()).alive, true);
  child.kill('SIGTERM');
  const { code, stderr } = await exited;
  assert.equal(code, 0);
  assert.match(stderr, /stopped on SIGTERM; 0 response schema failure\(s\)/);
});

test('--state keeps tasks and artifact bytes across a restart', async () => {
  const stateDir = path.join(tmp, 'state');
  const first = await start(['--state', stateDir]);
  const queue = queueClient(first.rootUrl, tester);
  const taskId = taskcluster.slugid();
  await queue.createTask(taskId, taskDef({ taskQueueId: 'proj-releng/cli' }));
  await queue.claimWork('proj-releng/cli', { workerGroup: 'wg-1', workerId: 'w', tasks: 1 });
  const s3 = await queue.createArtifact(taskId, 0, 'public/kept.txt', { storageType: 's3',
    contentType: 'text/plain', expires: taskcluster.fromNowJSON('1 day') });
  await fetch(s3.putUrl, { method: 'PUT', body: 'kept', headers: { 'content-type': 'text/plain' } });
  first.child.kill('SIGTERM');
  assert.equal((await first.exited).code, 0);

  const second = await start(['--state', stateDir]);
  const q2 = queueClient(second.rootUrl, tester);
  assert.equal((await q2.status(taskId)).status.state, 'running');
  const admin = promisify(execFile);
  const { stdout } = await admin(process.execPath, [ADMIN, '--root-url', second.rootUrl,
    '--token', 'cli-token', 'artifact', taskId, '0', 'public/kept.txt']);
  assert.equal(stdout, 'kept');
  const stats = JSON.parse((await admin(process.execPath, [ADMIN, '--root-url', second.rootUrl,
    '--token', 'cli-token', 'stats'])).stdout);
  assert.equal(stats.tasks, 1);
  assert.equal(stats.responseSchemaFailures, 0);
  const done = JSON.parse((await admin(process.execPath, [ADMIN, '--root-url', second.rootUrl,
    '--token', 'cli-token', 'complete', taskId, '{"state": "failed"}'])).stdout);
  assert.deepEqual([done.status.state, done.status.runs[0].workerId], ['failed', 'w']);
  second.child.kill('SIGTERM');
  assert.equal((await second.exited).code, 0);
});

test('bad options exit 2 naming the option', async () => {
  const child = spawn(process.execPath, [SERVER, '--port', 'x'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const code = await new Promise((resolve) => child.on('exit', resolve));
  assert.equal(code, 2);
  assert.match(stderr, /^queue-emulator: --port: expected a non-negative number, got "x"\n/);
});
