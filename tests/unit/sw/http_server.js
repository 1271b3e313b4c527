// The loopback HTTP server of tests/unit/sw/http_spec.lua.
//
//   node http_server.js [CERT KEY]
//
// Listens on two ports of 127.0.0.1 (two origins for redirect tests) and,
// given a certificate and key, a third with TLS. Prints one line,
// "PORT1 PORT2 CLOSED_PORT TLS_PORT PID" (CLOSED_PORT was bound then
// released, so connecting to it is refused; TLS_PORT is 0 without TLS), and
// then nothing else: the spec reads that line and kills PID at the end.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const https = require('https');
const net = require('net');
const zlib = require('zlib');

const stats = { inflight: 0, peak: 0, aborted: 0, barrier: 0 };
let barrierWaiters = [];
let barrierOpen = false;

// Deterministic pseudo-random bytes, so downloads are not all one byte.
function pattern(n) {
  const buf = Buffer.alloc(n);
  let x = 12345;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    buf[i] = (x >> 16) & 0xff;
  }
  return buf;
}

function sha256(buf) {
  return crypto.createHash('sha256').update(buf).digest('hex');
}

function track(res) {
  stats.inflight++;
  stats.peak = Math.max(stats.peak, stats.inflight);
  let done = false;
  const end = (aborted) => {
    if (!done) {
      done = true;
      stats.inflight--;
      if (aborted) stats.aborted++;
    }
  };
  res.on('finish', () => end(false));
  res.on('close', () => end(!res.writableFinished));
}

function route(req, res, body) {
  const u = new URL(req.url, 'http://127.0.0.1');
  const q = u.searchParams;
  const path = u.pathname;
  if (path === '/echo') {
    // The request comes back: body as the body, the rest in headers.
    const h = {
      'x-echo-method': req.method,
      'x-echo-url': req.url,
      'x-echo-length': String(body.length),
      'x-echo-sha256': sha256(body),
      'content-length': String(body.length),
    };
    const seen = {};
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = 'x-echo-h-' + req.rawHeaders[i].toLowerCase();
      const v = req.rawHeaders[i + 1];
      seen[name] = name in seen ? seen[name] + ', ' + v : v;
    }
    Object.assign(h, seen);
    res.writeHead(Number(q.get('status') || 200), h);
    res.end(body);
  } else if (path.startsWith('/status/')) {
    const code = Number(path.slice(8));
    res.writeHead(code, { 'content-type': 'text/plain' });
    res.end('status ' + code);
  } else if (path === '/redirect') {
    res.writeHead(Number(q.get('code') || 302), { location: q.get('to') });
    res.end('redirecting');
  } else if (path.startsWith('/chain/')) {
    const n = Number(path.slice(7));
    if (n > 0) {
      res.writeHead(302, { location: '/chain/' + (n - 1) });
      res.end('more');
    } else {
      res.end('end of chain');
    }
  } else if (path === '/delay') {
    track(res);
    const timer = setTimeout(() => res.end('slept'), Number(q.get('ms')));
    res.on('close', () => clearTimeout(timer));
  } else if (path === '/barrier') {
    // Answers once n requests are waiting at the same time, which proves
    // the client had n transfers in flight; gives up after 30 s with 504.
    track(res);
    const n = Number(q.get('n'));
    const waiter = { res, timer: null };
    waiter.timer = setTimeout(() => {
      barrierWaiters = barrierWaiters.filter((w) => w !== waiter);
      res.writeHead(504);
      res.end('barrier timeout');
    }, 30000);
    barrierWaiters.push(waiter);
    if (barrierWaiters.length >= n) barrierOpen = true;
    if (barrierOpen) {
      for (const w of barrierWaiters) {
        clearTimeout(w.timer);
        w.res.end('passed');
      }
      barrierWaiters = [];
    }
  } else if (path === '/stats') {
    res.end(`inflight=${stats.inflight} peak=${stats.peak} ` +
            `aborted=${stats.aborted}`);
  } else if (path === '/reset') {
    stats.peak = stats.inflight;
    stats.aborted = 0;
    barrierOpen = false;
    res.end('reset');
  } else if (path === '/bytes') {
    const data = pattern(Number(q.get('n')));
    const h = { 'x-sha256': sha256(data) };
    if (!q.get('chunked')) h['content-length'] = String(data.length);
    res.writeHead(200, h);
    res.end(data);
  } else if (path === '/trickle') {
    // One byte every interval ms, forever (until the client gives up).
    res.writeHead(200, { 'content-type': 'text/plain' });
    const timer = setInterval(() => res.write('x'),
                              Number(q.get('interval') || 500));
    res.on('close', () => clearInterval(timer));
  } else if (path === '/drop') {
    // Promises 1000 bytes, sends 100, then drops the connection.
    res.writeHead(200, { 'content-length': '1000' });
    res.write(Buffer.alloc(100, 'd'));
    setTimeout(() => req.socket.destroy(), 50);
  } else if (path === '/gzip') {
    const data = zlib.gzipSync(Buffer.from('hello hello hello hello\n'));
    res.writeHead(200, {
      'content-encoding': 'gzip',
      'content-length': String(data.length),
    });
    res.end(data);
  } else if (path === '/bigheaders') {
    const h = {};
    for (let i = 0; i < Number(q.get('n')); i++) {
      h['x-big-' + i] = 'a'.repeat(1000);
    }
    res.writeHead(200, h);
    res.end('big');
  } else if (path === '/repeated') {
    res.setHeader('X-Multi', ['one', 'two']);
    res.setHeader('Set-Cookie', ['a=1', 'b=2']);
    res.setHeader('X-Spaces', '  padded value  ');
    res.end('repeated');
  } else {
    res.writeHead(404);
    res.end('no route ' + path);
  }
}

function handler(req, res) {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => route(req, res, Buffer.concat(chunks)));
}

function listen(server) {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(server.address().port));
  });
}

async function main() {
  const p1 = await listen(http.createServer(handler));
  const p2 = await listen(http.createServer(handler));
  const spare = net.createServer();
  const closed = await listen(spare);
  await new Promise((resolve) => spare.close(resolve));
  let tls = 0;
  if (process.argv[3]) {
    tls = await listen(https.createServer({
      cert: fs.readFileSync(process.argv[2]),
      key: fs.readFileSync(process.argv[3]),
    }, handler));
  }
  process.stdout.write(`${p1} ${p2} ${closed} ${tls} ${process.pid}\n`);
}

main();
