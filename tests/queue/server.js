#!/usr/bin/env node
// Command line of the local Taskcluster Queue emulator (see docs/queue.md).
// Prints its rootUrl as the first line on stdout once it listens, and stops
// cleanly on SIGTERM or SIGINT (exit 0; with --strict, exit 3 when any
// response failed its schema).
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { QueueServer, DEFAULTS } from './lib/app.js';

const USAGE = `usage: node server.js [options]
  --port N             port on 127.0.0.1 (default 0: any free port)
  --state DIR          keep state (tasks, artifacts) in DIR across restarts
  --clients FILE       JSON: [{clientId, accessToken, scopes[, expires, disabled]}]
                       or {"clients": [...], "roles": {"roleId": [scopes]}}
  --faults FILE|JSON   fault injection config ({"seed": N, "rules": {...}})
  --seed N             seed of the fault PRNG (overrides the config's seed)
  --claim-seconds N    claim timeout (default ${DEFAULTS.claimSeconds})
  --poll-seconds N     claimWork long-poll time (default ${DEFAULTS.pollSeconds})
  --cert-skew-seconds N  how long a temporary credential outlives its expiry
                       (default ${DEFAULTS.certSkewSeconds}, as the Auth service)
  --max-deadline-days N  how far ahead task deadlines may be (default ${DEFAULTS.maxDeadlineDays})
  --max-artifact-bytes N  largest upload the storage targets accept (default ${DEFAULTS.maxArtifactBytes})
  --anonymous-scopes JSON  scopes of role "anonymous" (default ["queue:get-artifact:public/*"])
  --admin-token TOKEN  enables the /__admin/ API (or env QUEUE_EMULATOR_ADMIN_TOKEN)
  --references FILE    references.json (default ../shared/taskcluster/references.json)
  --strict             exit 3 at shutdown if any response failed schema validation
  --verbose            log every request on stderr
  --help`;

const fail = (message) => {
  process.stderr.write(`queue-emulator: ${message}\n${USAGE}\n`);
  process.exit(2);
};

const readJsonArg = (name, value) => {
  const text = value.trim().startsWith('{') || value.trim().startsWith('[')
    ? value : fs.readFileSync(value, 'utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    return fail(`${name}: not valid JSON: ${err.message}`);
  }
};

export const parseArgs = (argv) => {
  const options = {};
  const number = (name, v) => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < 0) {
      fail(`${name}: expected a non-negative number, got ${JSON.stringify(v)}`);
    }
    return n;
  };
  let seed;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      i += 1;
      if (i >= argv.length) {
        fail(`${arg}: missing value`);
      }
      return argv[i];
    };
    switch (arg) {
      case '--port': options.port = number(arg, value()); break;
      case '--state': options.stateDir = value(); break;
      case '--clients': {
        const data = readJsonArg(arg, value());
        options.clients = Array.isArray(data) ? data : data.clients || [];
        options.roles = Array.isArray(data) ? {} : data.roles || {};
        break;
      }
      case '--faults': options.faults = readJsonArg(arg, value()); break;
      case '--seed': seed = Math.trunc(number(arg, value())); break;
      case '--claim-seconds': options.claimSeconds = number(arg, value()); break;
      case '--poll-seconds': options.pollSeconds = number(arg, value()); break;
      case '--cert-skew-seconds': options.certSkewSeconds = number(arg, value()); break;
      case '--max-deadline-days': options.maxDeadlineDays = number(arg, value()); break;
      case '--max-artifact-bytes': options.maxArtifactBytes = number(arg, value()); break;
      case '--anonymous-scopes': options.anonymousScopes = readJsonArg(arg, value()); break;
      case '--admin-token': options.adminToken = value(); break;
      case '--references': options.references = value(); break;
      case '--strict': options.strict = true; break;
      case '--verbose': options.verbose = true; break;
      case '--help': process.stdout.write(USAGE + '\n'); process.exit(0); break;
      default: fail(`unknown option ${JSON.stringify(arg)}`);
    }
  }
  if (seed !== undefined) {
    options.faults = { rules: {}, ...(options.faults || {}), seed };
  }
  if (!options.adminToken && process.env.QUEUE_EMULATOR_ADMIN_TOKEN) {
    options.adminToken = process.env.QUEUE_EMULATOR_ADMIN_TOKEN;
  }
  return options;
};

const main = async () => {
  const options = parseArgs(process.argv.slice(2));
  let server;
  try {
    server = new QueueServer(options);
    const rootUrl = await server.start();
    process.stdout.write(rootUrl + '\n');
  } catch (err) {
    process.stderr.write(`queue-emulator: cannot start: ${err.message}\n`);
    process.exit(1);
  }
  let stopping = false;
  const stop = async (signal) => {
    if (stopping) {
      return;
    }
    stopping = true;
    await server.stop();
    const failures = server.counters.responseSchemaFailures;
    server.log(`stopped on ${signal}; ${failures} response schema failure(s)`);
    process.exit(options.strict && failures > 0 ? 3 : 0);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
};

if (process.argv[1] && fileURLToPath(import.meta.url) === fs.realpathSync(process.argv[1])) {
  main();
}
