// A user-space TCP fault proxy, for the link between baton and Redis (the kernel's netem
// is not available on the machines this runs on). Listens on a port, connects each
// accepted connection to the target, and relays bytes both ways through a per-direction
// queue whose treatment depends on the mode, switchable at run time:
//
//   pass                      bytes go through at once
//   latency {ms, jitter}      every chunk is delayed ms ± jitter (order kept per direction)
//   fragment {max, gapMs}     every chunk is cut into pieces of 1..max bytes, gapMs apart
//   stall                     nothing is forwarded (held, in order) until the mode
//                             changes: a path that silently stops, as with DROP
//   reset                     every connection is reset (RST) at once, and so is every
//                             new one while the mode lasts: as with REJECT --reject-with tcp-reset
//   slowclose {ms}            nothing is forwarded; after ms both sides get a FIN (a peer that
//                             goes away slowly); new connections are treated the same
//
// As a module: `new FaultProxy({ targetHost, targetPort }).start()`, then `.set(mode, opts)`.
// As a program: node fault-proxy.mjs --target 127.0.0.1:6379 [--listen 127.0.0.1:0]
//   [--control 127.0.0.1:0]; it prints `listening <port> control <port>`, and
//   `curl -X POST 'http://127.0.0.1:<control>/mode?name=latency&ms=50&jitter=20'` switches.

import http from 'node:http';
import net from 'node:net';
import { pathToFileURL } from 'node:url';

// A small seeded generator, so that a run can be replayed with the same faults.
export function rng(seed = 1) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x / 0x100000000;
  };
}

const HOLDING = new Set(['stall', 'slowclose']);

// A reset (RST) where the socket still has its handle; a plain destroy otherwise (Node 20
// can spin at exit after resetAndDestroy() of a socket that is already closing).
function rst(socket) {
  if (socket.destroyed) return;
  if (socket._handle && socket.readyState === 'open') socket.resetAndDestroy();
  else socket.destroy();
}

class Pipe {
  constructor(proxy, from, to) {
    this.proxy = proxy;
    this.from = from;
    this.to = to;
    this.queue = [];         // { buf, due }
    this.lastDue = 0;
    this.timer = null;
  }

  push(buf) {
    const { mode, opts } = this.proxy;
    const t = performance.now();
    if (mode === 'latency') {
      const jitter = opts.jitter ?? 0;
      const delay = Math.max(0, (opts.ms ?? 0) + (this.proxy.random() * 2 - 1) * jitter);
      this.enqueue(buf, t + delay);
    } else if (mode === 'fragment') {
      const max = Math.max(1, opts.max ?? 3);
      const gap = opts.gapMs ?? 1;
      let due = Math.max(t, this.lastDue);
      for (let at = 0; at < buf.length;) {
        const size = 1 + Math.floor(this.proxy.random() * max);
        this.enqueue(buf.subarray(at, at + size), due);
        at += size;
        due += gap;
      }
    } else {
      this.enqueue(buf, t);
    }
    this.pump();
  }

  enqueue(buf, due) {
    due = Math.max(due, this.lastDue);
    this.lastDue = due;
    this.queue.push({ buf, due });
    this.proxy.stats.bytesHeld += buf.length;
  }

  pump() {
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    if (HOLDING.has(this.proxy.mode) || this.to.destroyed) return;
    const t = performance.now();
    // Fragments leave one write per timer turn, so that they reach the peer apart.
    const onePerTurn = this.proxy.mode === 'fragment';
    while (this.queue.length > 0 && this.queue[0].due <= t + 0.5) {
      const { buf } = this.queue.shift();
      this.proxy.stats.bytesHeld -= buf.length;
      this.proxy.stats.bytes += buf.length;
      this.to.write(buf);
      if (onePerTurn) break;
    }
    if (this.queue.length > 0) {
      this.timer = setTimeout(() => { this.timer = null; this.pump(); }, Math.max(1, this.queue[0].due - t));
    }
  }

  // After a stall, held bytes go out at once (as TCP retransmission would deliver them).
  release() {
    const t = performance.now();
    for (const item of this.queue) item.due = Math.min(item.due, t);
    this.lastDue = Math.min(this.lastDue, t);
    this.pump();
  }

  drop() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const { buf } of this.queue) this.proxy.stats.bytesHeld -= buf.length;
    this.queue = [];
  }
}

export class FaultProxy {
  constructor({ targetHost = '127.0.0.1', targetPort, listenHost = '127.0.0.1', listenPort = 0, seed = 1, name = 'proxy' }) {
    this.target = { host: targetHost, port: targetPort };
    this.listenAt = { host: listenHost, port: listenPort };
    this.name = name;
    this.random = rng(seed);
    this.mode = 'pass';
    this.opts = {};
    this.conns = new Set();
    this.stats = { accepted: 0, resets: 0, slowCloses: 0, bytes: 0, bytesHeld: 0, modeChanges: 0 };
    this.history = [];      // { at (ms, performance.now()), mode, opts }
    this.server = net.createServer((socket) => this.accept(socket));
  }

  async start() {
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.listenAt.port, this.listenAt.host, resolve);
    });
    this.port = this.server.address().port;
    return this;
  }

  set(mode, opts = {}) {
    if (!['pass', 'latency', 'fragment', 'stall', 'reset', 'slowclose'].includes(mode)) throw new Error(`unknown mode ${mode}`);
    const was = this.mode;
    this.mode = mode;
    this.opts = opts;
    this.stats.modeChanges += 1;
    this.history.push({ at: performance.now(), mode, opts });
    for (const conn of [...this.conns]) {
      if (mode === 'reset') this.reset(conn);
      else if (mode === 'slowclose') this.slowClose(conn);
      else if (HOLDING.has(was)) { conn.up.release(); conn.down.release(); }
    }
  }

  // New connections go to another server from now on; the current ones are reset (as a
  // failover moves a service address to another Redis).
  retarget(port, host = this.target.host) {
    this.target = { host, port };
    for (const conn of [...this.conns]) this.reset(conn);
  }

  accept(client) {
    this.stats.accepted += 1;
    client.setNoDelay(true);
    if (this.mode === 'reset') {
      this.stats.resets += 1;
      rst(client);
      return;
    }
    const server = net.connect({ host: this.target.host, port: this.target.port });
    server.setNoDelay(true);
    const conn = { client, server, closing: false };
    conn.up = new Pipe(this, client, server);
    conn.down = new Pipe(this, server, client);
    this.conns.add(conn);
    client.on('data', (buf) => conn.up.push(buf));
    server.on('data', (buf) => conn.down.push(buf));
    const finish = () => {
      if (!this.conns.delete(conn)) return;
      conn.up.drop();
      conn.down.drop();
      client.destroy();
      server.destroy();
    };
    // A close of one side is passed on once what was queued towards the other has gone
    // out; an error (reset) is passed on as a reset.
    client.on('error', () => { rst(server); finish(); });
    server.on('error', () => { rst(client); finish(); });
    client.on('end', () => this.endAfter(conn, conn.up, server, finish));
    server.on('end', () => this.endAfter(conn, conn.down, client, finish));
    client.on('close', finish);
    server.on('close', finish);
    if (this.mode === 'slowclose') this.slowClose(conn);
  }

  endAfter(conn, pipe, to, finish) {
    const check = () => {
      if (!this.conns.has(conn)) return undefined;
      if (to.destroyed) return finish();
      if (pipe.queue.length > 0) return setTimeout(check, 5).unref();
      to.end();
      return undefined;
    };
    check();
  }

  reset(conn) {
    this.stats.resets += 1;
    rst(conn.client);
    rst(conn.server);
  }

  slowClose(conn) {
    if (conn.closing) return;
    conn.closing = true;
    this.stats.slowCloses += 1;
    setTimeout(() => {
      conn.up.drop();
      conn.down.drop();
      if (!conn.client.destroyed) conn.client.end();
      if (!conn.server.destroyed) conn.server.end();
      setTimeout(() => { conn.client.destroy(); conn.server.destroy(); }, 2_000).unref();
    }, this.opts.ms ?? 1_000).unref();
  }

  async close() {
    for (const conn of [...this.conns]) { conn.client.destroy(); conn.server.destroy(); }
    await new Promise((resolve) => this.server.close(resolve));
  }
}

// A schedule of random faults for a flaky link: switches mode every few hundred ms.
// Returns a stop function. Weights and durations are for a Redis link whose client gives
// up on a command after ~0.5-1 s and on a silent connection after 5 s.
export function chaos(proxy, { seed = 7, onChange = () => {} } = {}) {
  const random = rng(seed);
  let timer = null;
  let stopped = false;
  const pick = () => {
    const r = random();
    if (r < 0.35) return ['pass', {}, 300 + random() * 1_200];
    if (r < 0.55) return ['latency', { ms: 2 + random() * 60, jitter: random() * 40 }, 300 + random() * 1_500];
    if (r < 0.70) return ['fragment', { max: 1 + Math.floor(random() * 5), gapMs: Math.floor(random() * 3) }, 300 + random() * 1_000];
    if (r < 0.82) return ['stall', {}, 100 + random() * (random() < 0.3 ? 6_000 : 900)];
    if (r < 0.94) return ['reset', {}, 20 + random() * 300];
    return ['slowclose', { ms: 100 + random() * 1_500 }, 200 + random() * 1_800];
  };
  const step = () => {
    if (stopped) return;
    const [mode, opts, ms] = pick();
    proxy.set(mode, opts);
    onChange(mode, opts, ms);
    timer = setTimeout(step, ms);
  };
  step();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    proxy.set('pass');
  };
}

// ------------------------------------------------------------------------------ CLI

async function main(argv) {
  const hostPort = (text) => {
    const at = text.lastIndexOf(':');
    return { host: text.slice(0, at) || '127.0.0.1', port: Number(text.slice(at + 1)) };
  };
  let target = null;
  let listen = { host: '127.0.0.1', port: 0 };
  let control = { host: '127.0.0.1', port: 0 };
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === '--target') target = hostPort(argv[++i]);
    else if (argv[i] === '--listen') listen = hostPort(argv[++i]);
    else if (argv[i] === '--control') control = hostPort(argv[++i]);
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (!target) throw new Error('usage: fault-proxy.mjs --target HOST:PORT [--listen HOST:PORT] [--control HOST:PORT]');
  const proxy = await new FaultProxy({ targetHost: target.host, targetPort: target.port, listenHost: listen.host, listenPort: listen.port }).start();
  let stopChaos = null;
  const api = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://control');
    const reply = (status, body) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)); };
    try {
      if (req.method === 'POST' && url.pathname === '/mode') {
        if (stopChaos) { stopChaos(); stopChaos = null; }
        const opts = {};
        for (const [key, value] of url.searchParams) if (key !== 'name') opts[key] = Number(value);
        proxy.set(url.searchParams.get('name') ?? 'pass', opts);
        return reply(200, { mode: proxy.mode, opts: proxy.opts });
      }
      if (req.method === 'POST' && url.pathname === '/chaos') {
        if (!stopChaos) stopChaos = chaos(proxy, { seed: Number(url.searchParams.get('seed') ?? 7) });
        return reply(200, { chaos: true });
      }
      if (req.method === 'GET' && url.pathname === '/stats') return reply(200, { mode: proxy.mode, opts: proxy.opts, connections: proxy.conns.size, ...proxy.stats });
      return reply(404, { error: 'POST /mode?name=..., POST /chaos, GET /stats' });
    } catch (error) {
      return reply(400, { error: error.message });
    }
  });
  await new Promise((resolve) => api.listen(control.port, control.host, resolve));
  process.stdout.write(`listening ${proxy.port} control ${api.address().port}\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((error) => {
    process.stderr.write(`fault-proxy: ${error.message}\n`);
    process.exit(1);
  });
}
