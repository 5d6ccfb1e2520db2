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

// The same stream, as an answer written into a session's state: the state is read, the
// tokens are streamed, the answer is written back, then `done` is sent (so that the
// write is over when baton hands the session on).
async function streamAnswer(req, res, { instance, store, session, hints }) {
  const tokens = req.query.tokens === undefined ? 4 : intParam(req, 'tokens');
  const delay = req.query.delay === undefined ? 40 : intParam(req, 'delay');
  let started = false;
  const state = await store.update(session, hints, async (current) => {
    res.status(200).set({
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache',
      'X-Instance': instance,
    });
    res.flushHeaders();
    started = true;
    const words = [];
    for (let i = 0; i < tokens; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, delay));
      words.push(WORDS[i % WORDS.length]);
      if (!res.writableEnded) sendEvent(res, 'token', { i, text: WORDS[i % WORDS.length] });
    }
    current.answers.push(words.join(' '));
    current.counter += 1;
    return current;
  }).catch((err) => {
    if (!started) throw err;
    sendEvent(res, 'error', { error: err.message });
    res.end();
    return null;
  });
  if (state && !res.writableEnded) {
    sendEvent(res, 'done', { tokens, counter: state.counter, instance });
    res.end();
  }
}

module.exports = { streamTokens, streamAnswer };
