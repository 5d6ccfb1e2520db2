// A minimal Redis client for the harness (CLIENT PAUSE, SCAN, INFO, ...): one command per
// connection, a deadline on each, no dependencies.
import net from 'node:net';

function encode(args) {
  let out = `*${args.length}\r\n`;
  for (const arg of args) {
    const text = String(arg);
    out += `$${Buffer.byteLength(text)}\r\n${text}\r\n`;
  }
  return out;
}

// Parses one reply at `at`; returns [value, next] or null when incomplete.
function parse(buf, at = 0) {
  const eol = buf.indexOf('\r\n', at);
  if (eol < 0) return null;
  const type = String.fromCharCode(buf[at]);
  const line = buf.toString('utf8', at + 1, eol);
  const next = eol + 2;
  switch (type) {
    case '+': return [line, next];
    case '-': return [Object.assign(new Error(line), { redis: true }), next];
    case ':': return [Number(line), next];
    case '$': {
      const len = Number(line);
      if (len < 0) return [null, next];
      if (buf.length < next + len + 2) return null;
      return [buf.toString('utf8', next, next + len), next + len + 2];
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return [null, next];
      const items = [];
      let pos = next;
      for (let i = 0; i < count; i += 1) {
        const item = parse(buf, pos);
        if (!item) return null;
        items.push(item[0]);
        pos = item[1];
      }
      return [items, pos];
    }
    default: throw new Error(`bad RESP type ${type}`);
  }
}

export function redisCommand({ host = '127.0.0.1', port }, args, timeoutMs = 2_000) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`redis ${args[0]}: no reply in ${timeoutMs} ms`)); }, timeoutMs);
    socket.on('connect', () => socket.write(encode(args)));
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      const reply = parse(buf);
      if (!reply) return;
      clearTimeout(timer);
      socket.destroy();
      if (reply[0] instanceof Error) reject(reply[0]);
      else resolve(reply[0]);
    });
    socket.on('error', (error) => { clearTimeout(timer); reject(error); });
  });
}

// Every key matching `pattern` (SCAN, so it never blocks the server).
export async function scanKeys(where, pattern) {
  const keys = [];
  let cursor = '0';
  do {
    const [next, batch] = await redisCommand(where, ['SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000]);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}
