// The loopback HTTP server of tests/unit/sw/cot/v2_spec.lua: serves the
// remote inputs of chain-of-trust v2 (hg raw files and pushlogs, GitHub raw
// content and API answers, projects.yml, Taskcluster artifacts) from
// fixture files.
//
//   node fixture_server.js ROUTES_JSON
//
// ROUTES_JSON maps a request target (path and query, exactly as sent) to
//   {"file": PATH} or {"body": TEXT}   what to answer (200)
//   "status": N                        answer N with an empty body instead
//   "auth": VALUE                      answer 401 unless the Authorization
//                                      header is exactly VALUE
//   "fail_first": N                    answer 503 to the first N requests
// A route under /api/queue/v1/ answers as the Queue does: 303 to
// /_storage<target>, where the content is served (as artifact storage).
// Anything else is a 404. GET /_requests lists the requests seen as
// [{"target", "status", "authorization"}] where authorization is "none",
// "ok" or "wrong" (the header value itself is never echoed).
//
// Prints one line "PORT PID" once listening, then nothing: the spec reads it
// and kills PID at the end.
'use strict';
const fs = require('fs');
const http = require('http');

const routes = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const seen = [];
const hits = {};

const server = http.createServer((req, res) => {
  if (req.url === '/_requests') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(seen));
    return;
  }
  const stored = req.url.startsWith('/_storage/');
  const target = stored ? req.url.slice('/_storage'.length) : req.url;
  const route = routes[target];
  if (route && !stored && target.startsWith('/api/queue/v1/')) {
    const location = `http://${req.headers.host}/_storage${target}`;
    const answer = JSON.stringify({ storageType: 's3', url: location });
    seen.push({ target: req.url, status: 303, authorization: req.headers.authorization === undefined ? 'none'
      : 'wrong' });
    res.writeHead(303, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(answer),
      Location: location });
    res.end(answer);
    return;
  }
  const got = req.headers.authorization;
  let authorization = 'none';
  if (got !== undefined) {
    authorization = route && route.auth === got ? 'ok' : 'wrong';
  }
  let status = 200;
  let body = '';
  if (!route) {
    status = 404;
  } else {
    hits[target] = (hits[target] || 0) + 1;
    if (route.auth !== undefined && got !== route.auth) {
      status = 401;
    } else if (route.fail_first && hits[target] <= route.fail_first) {
      status = 503;
    } else if (route.status !== undefined) {
      status = route.status;
    } else if (route.file !== undefined) {
      body = fs.readFileSync(route.file);
    } else {
      body = route.body;
    }
  }
  seen.push({ target: req.url, status, authorization });
  res.writeHead(status, { 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${server.address().port} ${process.pid}\n`);
});
