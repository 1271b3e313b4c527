#!/usr/bin/env node
// Small command-line client of the emulator's admin API, for shell scripts
// and the Lua integration tests (which may equally speak HTTP directly):
//
//   node admin.js --root-url URL --token TOKEN stats
//   node admin.js ... create-task '{"taskQueueId": "proj-releng/linux-signing"}' [TASKID]
//   node admin.js ... task TASKID | tasks | cancel TASKID | complete TASKID ['{"state": "failed"}']
//   node admin.js ... faults '{"seed": 1, "rules": {...}}' | clear-faults
//   node admin.js ... advance-time MS | tick | add-client '{"clientId": ...}'
//   node admin.js ... artifact TASKID RUNID NAME      (raw bytes to stdout)
//   node admin.js ... clear-mirror | requests [SINCE] | refuse MS
//
// URL and token default to $TASKCLUSTER_ROOT_URL and $QUEUE_EMULATOR_ADMIN_TOKEN.
// Prints the JSON answer; exits 1 with the error on stderr when the call fails.

const COMMANDS = {
  stats: () => ['GET', 'stats'],
  tasks: () => ['GET', 'tasks'],
  task: (id) => ['GET', `tasks/${id}`],
  'create-task': (def, id) => ['POST', id ? `tasks/${id}` : 'tasks', JSON.parse(def || '{}')],
  cancel: (id) => ['POST', `tasks/${id}/cancel`],
  complete: (id, opts) => ['POST', `tasks/${id}/complete`, JSON.parse(opts || '{}')],
  faults: (config) => ['POST', 'faults', JSON.parse(config)],
  'clear-faults': () => ['DELETE', 'faults'],
  'advance-time': (ms) => ['POST', 'time', { advanceMs: Number(ms) }],
  tick: () => ['POST', 'tick'],
  'add-client': (client) => ['POST', 'clients', JSON.parse(client)],
  artifact: (taskId, runId, name) =>
    ['GET', `artifacts/${taskId}/${runId}/${name.split('/').map(encodeURIComponent).join('/')}`],
  'clear-mirror': () => ['DELETE', 'mirror'],
  requests: (since) => ['GET', `requests?since=${Number(since || 0)}`],
  refuse: (ms) => ['POST', 'refuse', { ms: Number(ms) }],
};

const main = async (argv) => {
  let rootUrl = process.env.TASKCLUSTER_ROOT_URL;
  let token = process.env.QUEUE_EMULATOR_ADMIN_TOKEN;
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--root-url') {
      rootUrl = argv[++i];
    } else if (argv[i] === '--token') {
      token = argv[++i];
    } else {
      rest.push(argv[i]);
    }
  }
  const [command, ...args] = rest;
  if (!COMMANDS[command] || !rootUrl || !token) {
    process.stderr.write('usage: node admin.js --root-url URL --token TOKEN ' +
      `<${Object.keys(COMMANDS).join('|')}> [args]\n`);
    return 2;
  }
  const [method, path, body] = COMMANDS[command](...args);
  const res = await fetch(`${rootUrl.replace(/\/+$/, '')}/__admin/${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (command === 'artifact' && res.ok) {
    process.stdout.write(Buffer.from(await res.arrayBuffer()));
    return 0;
  }
  const text = await res.text();
  if (!res.ok) {
    process.stderr.write(`admin.js: ${command}: HTTP ${res.status}: ${text}\n`);
    return 1;
  }
  process.stdout.write(text + '\n');
  return 0;
};

main(process.argv.slice(2)).then((code) => process.exit(code), (err) => {
  process.stderr.write(`admin.js: ${err.message}\n`);
  process.exit(1);
});
