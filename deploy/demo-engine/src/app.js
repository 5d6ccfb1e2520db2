'use strict';
// Routes of the demo engine. createApp takes everything a route needs as arguments, so
// that shared state (a session store, for instance) can be passed in the same way.

const express = require('express');
const { requestLog } = require('./log');
const { streamTokens, streamAnswer } = require('./stream');
const { sleep } = require('./sessions');

const SESSION_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

// The session id of a request: the X-Session-Id header, or ?session=. Throws 400.
function sessionOf(req) {
  const id = req.get('x-session-id') ?? req.query.session;
  if (typeof id !== 'string' || !SESSION_PATTERN.test(id)) {
    const err = new Error('a session id (X-Session-Id header or ?session=) is required');
    err.status = 400;
    throw err;
  }
  return id;
}

// What baton tells the engine: reload the state (no-cache) and the lease's fence.
function leaseHints(req) {
  const fresh = /no-cache/i.test(req.get('cache-control') ?? '');
  const raw = req.get('baton-fence');
  const fence = raw !== undefined && /^[0-9]+$/.test(raw) ? Number(raw) : null;
  return { fresh, fence };
}

// Express 4 does not pass a rejected promise on to the error handler by itself.
const wrap = (handler) => (req, res, next) => Promise.resolve(handler(req, res, next)).catch(next);

// Request headers the echo route reports back: those baton adds or must pass on.
const ECHOED_HEADERS = [
  'x-request-id',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'cache-control',
  'baton-fence',
];

function selectedHeaders(req) {
  const picked = {};
  for (const name of ECHOED_HEADERS) {
    const value = req.get(name);
    if (value !== undefined) picked[name] = value;
  }
  return picked;
}

function sendError(res, status, message) {
  res.status(status).json({ ok: false, error: message });
}

function createApp({ instance, store }) {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.use(requestLog(instance));
  app.use(express.json({ limit: '1mb' }));

  app.get('/healthz', (req, res) => {
    res.json({ ok: true, instance });
  });

  app.post('/api/echo', (req, res) => {
    res.json({ ok: true, instance, received: req.body ?? null, headers: selectedHeaders(req) });
  });

  // Without a session id, /stream streams tokens and touches no state (the first demo);
  // with one, it is an answer written into the session's state, like /api/answer.
  const stream = wrap((req, res) => {
    if (req.get('x-session-id') === undefined && req.query.session === undefined) {
      return streamTokens(req, res, { instance });
    }
    return streamAnswer(req, res, { instance, store, session: sessionOf(req), hints: leaseHints(req) });
  });
  app.get('/stream', stream);
  app.post('/stream', stream);

  // Appends an answer to the session and counts it: read, think a little, write back.
  app.post('/api/answer', wrap(async (req, res) => {
    const session = sessionOf(req);
    const answer = String(req.body?.answer ?? `answer from ${instance}`);
    const state = await store.update(session, leaseHints(req), async (current) => {
      await sleep(40 + Math.floor(Math.random() * 80));
      current.answers.push(answer);
      current.counter += 1;
      return current;
    });
    res.json({ ok: true, instance, session, counter: state.counter, answers: state.answers.length });
  }));

  // The state as stored in Redis (not this process's copy).
  app.get('/api/state', wrap(async (req, res) => {
    const session = sessionOf(req);
    const state = await store.readStored(session);
    res.json({ ok: true, instance, session, ...state });
  }));

  // Counters of this process; overlaps are requests that arrived while another request
  // of the same session was running here.
  app.get('/api/stats', (req, res) => {
    res.json({ ok: true, instance, fence_check: store.fenceCheck, ...store.stats });
  });

  app.use((req, res) => sendError(res, 404, `no route for ${req.method} ${req.path}`));

  // Express's default error page is HTML; the engine answers JSON everywhere. Express
  // tells an error handler by its four parameters, so `_next` stays although unused.
  app.use((err, req, res, _next) => {
    const status = Number.isInteger(err.status) && err.status >= 400 ? err.status : 500;
    sendError(res, status, status < 500 ? err.message : 'internal error');
  });

  return app;
}

module.exports = { createApp };
