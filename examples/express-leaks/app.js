'use strict';
// An Express app with the leaks of the well-known Node.js memory-leak guides,
// each beside a well-behaved twin. See README.md.
//
// Every handler that allocates is written on ONE line, so that the line of
// the handler function (what V8's sampling heap profiler reports for a frame)
// is also the line that allocates the per-request object and calls
// setInterval / emitter.on / stores into the cache. Keep it that way: tests
// assert these line numbers (tests/data/js-profiles/README.md lists them).

const express = require('express');
const { EventEmitter } = require('node:events');

const app = express();
const port = Number(process.env.PORT || 3000);
let requests = 0; // a fallback key when a request carries none

// A long-lived emitter, as a service's internal event bus. It ticks every
// second, which fires (and so removes) the listeners added with once().
const bus = new EventEmitter();
bus.setMaxListeners(0); // the leak would otherwise print a warning per 10 listeners
setInterval(() => bus.emit('tick', Date.now()), 1000).unref();

const cache = {}; // a global cache that is never trimmed
const cappedCache = new Map(); // a cache of at most 100 entries, oldest evicted first
const pinnedRequests = []; // every request ever seen, never trimmed
const inFlight = new Set(); // requests being served, each removed when its response finishes
const sessions = new Map(); // an in-memory session store whose sessions never expire
const expiringSessions = new Map(); // sessions that expire 5 s after they were made

// Sessions past their expiry are swept every second, by a timer that does not
// keep the process alive.
setInterval(() => { const now = Date.now(); for (const [id, s] of expiringSessions) if (s.expiresAt <= now) expiringSessions.delete(id); }, 1000).unref();

// What a timer or listener does with what it captured (it allocates nothing,
// so that what a profile shows retained is what the handlers allocated).
function touch(payload, now) { return payload.key.length + payload.list.length + (now ? 1 : 0); }

app.get('/health', (req, res) => res.send('ok'));

// GET /leaky: a timer per request that is never cleared; it keeps its request's payload alive forever.
app.get('/leaky', (req, res) => { const key = String(req.query.key ?? ++requests); const payload = { key, text: 'interval:'.repeat(128) + key, list: new Array(128).fill(key) }; setInterval(() => touch(payload), 1000); res.send('ok'); });
// GET /leaky-safe: the same timer, cleared 5 s later.
app.get('/leaky-safe', (req, res) => { const key = String(req.query.key ?? ++requests); const payload = { key, text: 'interval:'.repeat(128) + key, list: new Array(128).fill(key) }; const timer = setInterval(() => touch(payload), 1000); setTimeout(() => clearInterval(timer), 5000); res.send('ok'); });

// GET /event-leak: a listener per request on the long-lived emitter, never removed.
app.get('/event-leak', (req, res) => { const key = String(req.query.key ?? ++requests); const payload = { key, text: 'listener:'.repeat(128) + key, list: new Array(128).fill(key) }; bus.on('tick', (now) => touch(payload, now)); res.send('ok'); });
// GET /event-safe: a listener per request added with once(), removed when the next tick fires it.
app.get('/event-safe', (req, res) => { const key = String(req.query.key ?? ++requests); const payload = { key, text: 'listener:'.repeat(128) + key, list: new Array(128).fill(key) }; bus.once('tick', (now) => touch(payload, now)); res.send('ok'); });

// GET /cache-leak?key=...: a global cache keyed by request data, never trimmed.
app.get('/cache-leak', (req, res) => { const key = String(req.query.key ?? ++requests); cache[key] = { key, text: 'cached:'.repeat(160) + key, list: new Array(128).fill(key), at: Date.now() }; res.send('ok'); });
// GET /cache-safe?key=...: the same cache capped at 100 entries, the oldest evicted.
app.get('/cache-safe', (req, res) => { const key = String(req.query.key ?? ++requests); cappedCache.set(key, { key, text: 'cached:'.repeat(160) + key, list: new Array(128).fill(key), at: Date.now() }); if (cappedCache.size > 100) cappedCache.delete(cappedCache.keys().next().value); res.send('ok'); });

// A middleware that pins a large object to every request and keeps every request.
function pinLeak(req, res, next) { req.pinned = { buffer: Buffer.alloc(64 * 1024), rows: new Array(256).fill(req.url), note: 'pinned:'.repeat(128) + req.url }; pinnedRequests.push(req); next(); }
// Its twin: pins the same object, and drops both references when the response finishes.
function pinSafe(req, res, next) { req.pinned = { buffer: Buffer.alloc(64 * 1024), rows: new Array(256).fill(req.url), note: 'pinned:'.repeat(128) + req.url }; inFlight.add(req); res.on('finish', () => { req.pinned = null; inFlight.delete(req); }); next(); }
// GET /pin-leak: the pinning middleware on this route only.
app.get('/pin-leak', pinLeak, (req, res) => res.send('ok'));
// GET /pin-safe: the twin middleware on this route only.
app.get('/pin-safe', pinSafe, (req, res) => res.send('ok'));

// GET /session-leak: a new session per request in the in-memory store, never expiring.
app.get('/session-leak', (req, res) => { const id = `s${++requests}-${req.query.key ?? ''}`; sessions.set(id, { id, createdAt: Date.now(), user: { name: 'user:'.repeat(64) + id, roles: ['reader', 'writer'] }, cart: new Array(128).fill(id) }); res.set('Set-Cookie', `sid=${id}`).send('ok'); });
// GET /session-safe: the same sessions, expiring 5 s after they were made (swept above).
app.get('/session-safe', (req, res) => { const id = `s${++requests}-${req.query.key ?? ''}`; expiringSessions.set(id, { id, createdAt: Date.now(), expiresAt: Date.now() + 5000, user: { name: 'user:'.repeat(64) + id, roles: ['reader', 'writer'] }, cart: new Array(128).fill(id) }); res.set('Set-Cookie', `sid=${id}`).send('ok'); });

const server = app.listen(port, '127.0.0.1', () => {
  const { port: bound } = server.address();
  console.log(`listening on 127.0.0.1:${bound} pid ${process.pid}`);
});
