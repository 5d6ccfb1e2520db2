'use strict';
// Log lines are logfmt-style key=value pairs, one per line, on stdout.

function log(line) {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
}

function quote(value) {
  return value === undefined ? '-' : JSON.stringify(String(value));
}

// One line per request, written when the response is finished or the client went away,
// with the X-Request-Id the engine received so that it can be matched with baton's log.
function requestLog(instance) {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    let written = false;
    const write = (outcome) => {
      if (written) return;
      written = true;
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      log(`instance=${instance} request_id=${quote(req.get('x-request-id'))} ` +
          `method=${req.method} path=${quote(req.originalUrl)} status=${res.statusCode} ` +
          `ms=${ms.toFixed(1)} outcome=${outcome}`);
    };
    res.once('finish', () => write('done'));
    res.once('close', () => write(res.writableFinished ? 'done' : 'client_gone'));
    next();
  };
}

module.exports = { log, requestLog };
