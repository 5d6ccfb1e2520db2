'use strict';
// The demo engine: an ordinary single-process web app that baton-proxy sits in front of.
//
// Environment:
//   PORT      port to listen on (default 3000)
//   HOST      address to listen on (default 127.0.0.1)
//   INSTANCE  name of this replica, reported in answers and logs (default engine-<pid>)
//   REDIS_URL where session state is stored (default redis://127.0.0.1:6379); the
//             connection is made on the first request that needs it
//   FENCE_CHECK=1  refuse (409) a write whose Baton-Fence is older than the state's

const http = require('node:http');
const { createApp } = require('./src/app');
const { log } = require('./src/log');
const { SessionStore } = require('./src/sessions');

// A request still running when the process is asked to stop gets this long to finish.
const SHUTDOWN_GRACE_MS = 10_000;

function readConfig(env) {
  const port = Number.parseInt(env.PORT ?? '3000', 10);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`PORT must be a port number, got "${env.PORT}"`);
  }
  return {
    host: env.HOST || '127.0.0.1',
    port,
    instance: env.INSTANCE || `engine-${process.pid}`,
    redisUrl: env.REDIS_URL || 'redis://127.0.0.1:6379',
    fenceCheck: env.FENCE_CHECK === '1',
  };
}

function listen(app, { host, port }) {
  const server = http.createServer(app);
  // Node's default, set explicitly because baton depends on it: baton's upstream pool
  // closes idle connections after 4 s, before the engine does, so a pooled connection
  // is never reused at the moment the engine closes it.
  server.keepAliveTimeout = 5_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

function stopOnSignals(server, instance) {
  const stop = (signal) => {
    log(`instance=${instance} msg="stopping" signal=${signal}`);
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), SHUTDOWN_GRACE_MS).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

async function main() {
  const config = readConfig(process.env);
  const store = new SessionStore(config);
  const app = createApp({ instance: config.instance, store });
  const server = await listen(app, config);
  const { address, port } = server.address();
  log(`instance=${config.instance} msg="listening" address=${address} port=${port}`);
  stopOnSignals(server, config.instance);
}

main().catch((err) => {
  console.error(`demo-engine: ${err.message}`);
  process.exit(1);
});
