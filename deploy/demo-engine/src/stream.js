'use strict';
// Server-Sent Events route: a few `token` events, then `done`, like a chat engine
// streaming an answer. baton watches for the `done` event to hand the session on.

const WORDS = ['baton', 'hands', 'each', 'session', 'to', 'one', 'replica', 'at', 'a', 'time'];

const LIMITS = {
  tokens: { fallback: 5, min: 0, max: 10_000 },
  delay: { fallback: 150, min: 0, max: 60_000 },
};

// An integer query parameter within its limits, or an Error naming it.
function intParam(req, name) {
  const { fallback, min, max } = LIMITS[name];
  const raw = req.query[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    const err = new Error(`query parameter "${name}" must be an integer in [${min}, ${max}]`);
    err.status = 400;
    throw err;
  }
  return value;
}

function sendEvent(res, event, data) {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

function streamTokens(req, res, { instance }) {
  const tokens = intParam(req, 'tokens');
  const delay = intParam(req, 'delay');

  res.status(200).set({
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache',
    'X-Instance': instance,
  });
  // The client (and baton) see the status at once, not with the first token.
  res.flushHeaders();

  let sent = 0;
  let timer = null;
  const next = () => {
    if (sent < tokens) {
      sendEvent(res, 'token', { i: sent, text: WORDS[sent % WORDS.length] });
      sent += 1;
      timer = setTimeout(next, delay);
      return;
    }
    sendEvent(res, 'done', { tokens });
    res.end();
  };
  // A client that goes away stops the stream; nothing else needs cleaning up yet.
  res.once('close', () => clearTimeout(timer));
  timer = setTimeout(next, delay);
}

module.exports = { streamTokens };
