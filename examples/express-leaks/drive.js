'use strict';
// A load driver with no dependencies:
//   node drive.js [--host 127.0.0.1] [--port 3000] [--rate 50] [--duration 90] /leaky [/cache-leak ...]
// sends GET requests to each route at --rate requests/s per route for
// --duration seconds (0 = until killed), each with a unique ?key=<counter>.
// Prints one summary line at the end, or on SIGTERM/SIGINT, and exits 0.

const http = require('node:http');

function usage(message) {
  if (message) console.error(`drive.js: ${message}`);
  console.error('usage: node drive.js [--host H] [--port N] [--rate R] [--duration S] /route [/route ...]');
  process.exit(2);
}

const options = { host: '127.0.0.1', port: 3000, rate: 50, duration: 90 };
const routes = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const arg = argv[i];
  const m = /^--(host|port|rate|duration)(?:=(.*))?$/.exec(arg);
  if (m) {
    const value = m[2] !== undefined ? m[2] : argv[++i];
    if (value === undefined) usage(`${arg} needs a value`);
    if (m[1] === 'host') {
      options.host = value;
    } else {
      const n = Number(value);
      if (!Number.isFinite(n) || n < 0) usage(`bad ${arg} ${value}`);
      options[m[1]] = n;
    }
  } else if (arg === '-h' || arg === '--help') {
    usage();
  } else if (arg.startsWith('/')) {
    routes.push(arg);
  } else {
    usage(`unknown argument ${arg}`);
  }
}
if (routes.length === 0) usage('no route given');
if (options.rate <= 0) usage('--rate must be above 0');

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const stats = { sent: 0, ok: 0, failed: 0 };
const maxInFlight = 2000; // beyond this a request is counted failed, not queued
let inFlight = 0;
let counter = 0;
let finished = false;

function send(route) {
  const path = `${route}${route.includes('?') ? '&' : '?'}key=${++counter}`;
  stats.sent++;
  if (inFlight >= maxInFlight) {
    stats.failed++;
    return;
  }
  inFlight++;
  let done = false;
  const settle = (ok) => {
    if (done) return;
    done = true;
    inFlight--;
    if (ok) stats.ok++; else stats.failed++;
  };
  const req = http.get({ host: options.host, port: options.port, path, agent }, (res) => {
    res.on('data', () => {});
    res.on('end', () => settle(res.statusCode >= 200 && res.statusCode < 300));
    res.on('error', () => settle(false));
    res.on('aborted', () => settle(false));
  });
  req.setTimeout(10000, () => req.destroy(new Error('timeout')));
  req.on('error', () => settle(false));
  req.on('close', () => settle(false)); // no-op when already settled
}

function summary() {
  console.log(`drive: sent ${stats.sent} ok ${stats.ok} failed ${stats.failed} (routes ${routes.join(' ')}, rate ${options.rate}/s each)`);
}

function finish() {
  if (finished) return;
  finished = true;
  clearInterval(ticker);
  // Let the requests under way settle, for at most 5 s.
  const deadline = Date.now() + 5000;
  const wait = setInterval(() => {
    if (inFlight === 0 || Date.now() >= deadline) {
      clearInterval(wait);
      summary();
      agent.destroy();
      process.exit(0);
    }
  }, 20);
}

// Each tick sends what is due so that every route gets `rate` requests per
// second on average, whatever the timer's jitter.
const start = Date.now();
let due = 0; // requests sent per route so far
const ticker = setInterval(() => {
  const elapsed = (Date.now() - start) / 1000;
  const until = options.duration > 0 ? Math.min(elapsed, options.duration) : elapsed;
  const target = Math.floor(until * options.rate);
  for (; due < target; due++) for (const route of routes) send(route);
  if (options.duration > 0 && elapsed >= options.duration) finish();
}, 10);

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    summary();
    process.exit(0);
  });
}
