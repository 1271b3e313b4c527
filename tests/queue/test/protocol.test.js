// The test vectors of PROTOCOL.md sections 2 and 3, checked against the
// emulator's own verification code (lib/hawk.js), plus scope template
// rendering as lib-api does it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import hawk from 'hawk';
import {
  Authenticator, certificateSignature, temporaryAccessToken,
} from '../lib/hawk.js';
import { Roles, render, canRender } from '../lib/scopes.js';

const TASK_ID = 'fN1SbArXTPSVFNUvaOlinQ';
const CERT = `{"version":1,"scopes":["queue:reclaim-task:${TASK_ID}/0",` +
  `"queue:resolve-task:${TASK_ID}/0","queue:create-artifact:${TASK_ID}/0"],` +
  '"start":1700000000000,"expiry":1700001200000,' +
  '"seed":"AAAAAAAAQAaAAAAAAAAAAABBBBBBBBQBaBBBBBBBBBBA",' +
  '"signature":"a0LrTl1tdOLTOTifZGUp9GaVGrzYd1v+UFG0icO7w6I=","issuer":"static/taskcluster/queue"}';
const TEMP_NAME = `task-client/${TASK_ID}/0/on/wg-1/wid-1/until/1700001200`;
const TEMP_KEY = 'Go-QpJLEJdaLlTM6GUAmN-4MxL_o7DAQhwel3WwhATU';

const clock = { offsetMs: 0, base: 1700000000000, now() { return this.base + this.offsetMs; } };
const authenticator = () => new Authenticator({
  clients: new Map([
    ['tester', { clientId: 'tester', accessToken: 'no-secret', scopes: ['*'] }],
    ['static/taskcluster/queue', { clientId: 'static/taskcluster/queue',
      accessToken: 'queue-secret-token', scopes: ['*'] }],
  ]),
  roles: new Roles({ anonymous: ['queue:get-artifact:public/*'] }),
  clock,
});

const setNow = (ms) => {
  clock.base = ms;
  hawk.utils.setTimeFunction(() => ms);
};

after(() => hawk.utils.setTimeFunction(Date.now));

test('V1: permanent credentials, no ext', async () => {
  setNow(1700000000000);
  const resource = '/api/queue/v1/claim-work/proj-releng%2Flinux-signing';
  const normalized = hawk.crypto.generateNormalizedString('header', {
    ts: 1700000000, nonce: 'abc123', method: 'POST', resource, host: 'tc.example.com', port: 443 });
  assert.equal(normalized, 'hawk.1.header\n1700000000\nabc123\nPOST\n' +
    '/api/queue/v1/claim-work/proj-releng%2Flinux-signing\ntc.example.com\n443\n\n\n');
  const authorization = 'Hawk id="tester", ts="1700000000", nonce="abc123", ' +
    'mac="evBABU8dkdb+h6jXRHhiV9iSgt893ZV9dU981UeyxSU="';
  const result = await authenticator().authenticate({ method: 'POST', resource,
    host: 'tc.example.com', port: 443, authorization });
  assert.equal(result.status, 'auth-success');
  assert.equal(result.clientId, 'tester');
  const bad = await authenticator().authenticate({ method: 'POST', resource,
    host: 'tc.example.com', port: 443, authorization: authorization.replace('evBA', 'evBB') });
  assert.deepEqual(bad, { status: 'auth-failed', message: 'Unauthorized: Bad mac' });
  // 15 minutes of skew are accepted, 16 are not.
  setNow(1700000000000 + 15 * 60 * 1000);
  assert.equal((await authenticator().authenticate({ method: 'POST', resource,
    host: 'tc.example.com', port: 443, authorization })).status, 'auth-success');
  setNow(1700000000000 + 16 * 60 * 1000);
  assert.deepEqual(await authenticator().authenticate({ method: 'POST', resource,
    host: 'tc.example.com', port: 443, authorization }),
  { status: 'auth-failed', message: 'Unauthorized: Stale timestamp' });
});

test('section 3: certificate signature and temporary key derivation', () => {
  const cert = JSON.parse(CERT);
  assert.equal(certificateSignature(cert, 'queue-secret-token', TEMP_NAME), cert.signature);
  assert.equal(temporaryAccessToken('queue-secret-token', cert.seed), TEMP_KEY);
  assert.notEqual(certificateSignature(cert, 'queue-secret-token', TEMP_NAME + 'x'),
    cert.signature);
});

test('V2: temporary credentials on loopback', async () => {
  setNow(1700000600000);
  const ext = Buffer.from(`{"certificate":${CERT}}`).toString('base64');
  const resource = `/api/queue/v1/task/${TASK_ID}/runs/0/reclaim`;
  const mac = hawk.crypto.calculateMac('header', { key: TEMP_KEY, algorithm: 'sha256' },
    { ts: 1700000600, nonce: 'n0nce2', method: 'POST', resource, host: '127.0.0.1', port: 8080,
      ext });
  assert.equal(mac, 'FX4uXYnl2Uv6wGb0RiBDOeGQ4a2veLAnLSX0dk0hQhw=');
  const authorization = `Hawk id="${TEMP_NAME}", ts="1700000600", nonce="n0nce2", ` +
    `ext="${ext}", mac="${mac}"`;
  const result = await authenticator().authenticate({ method: 'POST', resource,
    host: '127.0.0.1', port: 8080, authorization });
  assert.equal(result.status, 'auth-success');
  assert.equal(result.clientId, TEMP_NAME);
  assert.equal(result.expires.getTime(), 1700001200000);
  assert.deepEqual(result.scopes, ['assume:anonymous', `queue:create-artifact:${TASK_ID}/0`,
    'queue:get-artifact:public/*', `queue:reclaim-task:${TASK_ID}/0`,
    `queue:resolve-task:${TASK_ID}/0`]);
  // Valid up to 5 minutes past expiry, not after.
  setNow(1700001200000 + 5 * 60 * 1000);
  hawk.utils.setTimeFunction(() => 1700000600000);
  assert.equal((await authenticator().authenticate({ method: 'POST', resource,
    host: '127.0.0.1', port: 8080, authorization })).status, 'auth-success');
  setNow(1700001200000 + 5 * 60 * 1000 + 1);
  hawk.utils.setTimeFunction(() => 1700000600000);
  assert.deepEqual(await authenticator().authenticate({ method: 'POST', resource,
    host: '127.0.0.1', port: 8080, authorization }),
  { status: 'auth-failed', message: 'ext.certificate.expiry < now' });
});

test('V3: bewit', async () => {
  setNow(1700000000000);
  const url = `https://tc.example.com/api/queue/v1/task/${TASK_ID}/artifacts/` +
    'private%2Fbuild%2Ftarget.tar.gz';
  const bewit = hawk.client.getBewit(url, {
    credentials: { id: 'tester', key: 'no-secret', algorithm: 'sha256' }, ttlSec: 900 });
  assert.equal(bewit,
    'dGVzdGVyXDE3MDAwMDA5MDBcYTZmUm52K0FuQ0tqR2xkY3g4MytDTWJXaE5NcitqK3FHMkQ1cTRlTkNkYz1c');
  const resource = new URL(url).pathname + '?bewit=' + bewit;
  const result = await authenticator().authenticate({ method: 'GET', resource,
    host: 'tc.example.com', port: 443 });
  assert.equal(result.status, 'auth-success');
  setNow(1700000900000);
  assert.deepEqual(await authenticator().authenticate({ method: 'GET', resource,
    host: 'tc.example.com', port: 443 }),
  { status: 'auth-failed', message: 'Unauthorized: Access expired' });
});

test('payload hash vector', () => {
  assert.equal(hawk.crypto.calculatePayloadHash('{"reason":"worker-shutdown"}', 'sha256',
    'application/json; charset=utf-8'), '8kvcWtk2AI74LYotos1jC/KLa/z5J9YdZozoRBfYDcg=');
  assert.equal(hawk.crypto.calculatePayloadHash('', 'sha256', ''),
    'B0weSUXsMcb5UhL41FZbrUJCAotzSI3HawE1NPLRUz8=');
});

test('scope templates render as lib-api renders them', () => {
  const createTask = { AllOf: [
    { each: '<scope>', for: 'scope', in: 'scopes' },
    { each: 'queue:route:<route>', for: 'route', in: 'routes' },
    'queue:create-task:project:<projectId>',
    { AnyOf: [{ each: 'queue:create-task:<priority>:<provisionerId>/<workerType>',
      for: 'priority', in: 'priorities' }] },
  ] };
  assert.equal(canRender(createTask, { taskId: 'x' }), false);
  assert.deepEqual(render(createTask, { scopes: ['a', 'b'], routes: ['r'], projectId: 'p',
    priorities: ['highest', 'very-high'], provisionerId: 'pp', workerType: 'wt' }),
  { AllOf: ['a', 'b', 'queue:route:r', 'queue:create-task:project:p', { AnyOf: [
    'queue:create-task:highest:pp/wt', 'queue:create-task:very-high:pp/wt'] }] });
  assert.equal(canRender('queue:reclaim-task:<taskId>/<runId>', { taskId: 'a', runId: '0' }), true);
  assert.equal(render('queue:reclaim-task:<taskId>/<runId>', { taskId: 'a', runId: '0' }),
    'queue:reclaim-task:a/0');
  const roles = new Roles({ anonymous: ['queue:get-artifact:public/*'],
    'worker-pool:*': ['queue:claim-work:*'] });
  assert.deepEqual(roles.expand(['assume:worker-pool:proj/x']),
    ['assume:worker-pool:proj/x', 'queue:claim-work:*']);
  assert.deepEqual(roles.expand(['assume:anonymous']),
    ['assume:anonymous', 'queue:get-artifact:public/*']);
});
