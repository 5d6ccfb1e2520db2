'use strict';
// Routes of the demo engine. createApp takes everything a route needs as arguments, so
// that shared state (a session store, for instance) can be passed in the same way.

const express = require('express');
const { requestLog } = require('./log');
const { streamTokens } = require('./stream');

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

function createApp({ instance }) {
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

  app.get('/stream', (req, res) => streamTokens(req, res, { instance }));
  app.post('/stream', (req, res) => streamTokens(req, res, { instance }));

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
