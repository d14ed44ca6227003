'use strict';
// Closed-loop load for tools/bench: CONCURRENCY keep-alive requests in
// flight to each ROUTE of the Express app on 127.0.0.1:PORT for SECONDS;
// prints the requests/s completed (all routes together) on one line.
//   node express_load.js PORT SECONDS CONCURRENCY ROUTE...
const http = require('node:http');

const [port, seconds, concurrency] = process.argv.slice(2, 5).map(Number);
const routes = process.argv.slice(5);
if (!port || !seconds || !concurrency || routes.length === 0) {
  console.error('usage: node express_load.js PORT SECONDS CONCURRENCY ROUTE...');
  process.exit(2);
}
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency * routes.length });
const end = Date.now() + seconds * 1000;
let done = 0, failed = 0, key = 0, open = 0;

function one(route) {
  if (Date.now() >= end) {
    if (--open === 0) {
      console.log((done / seconds).toFixed(0));
      if (failed) console.error(`express_load: ${failed} requests failed`);
      agent.destroy();
    }
    return;
  }
  http.get({ host: '127.0.0.1', port, agent, path: `${route}?key=${++key}` }, (res) => {
    res.resume();
    res.on('end', () => { done++; one(route); });
  }).on('error', () => { failed++; setTimeout(() => one(route), 10); });
}
for (const route of routes)
  for (let i = 0; i < concurrency; i++) { open++; one(route); }
