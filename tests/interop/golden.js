#!/usr/bin/env node
// Reference ("golden") payloads from the real @socket.io/redis-emitter@5.1.0.
//
// stdin:  a JSON array of cases
// stdout: a JSON array of results, one per case, in the same order
//
// Case fields (all optional):
//   key        string            emitter key (default "symple")
//   nsp        string            namespace (default "/"; `.of(nsp)` is called only when nsp !== "/",
//                                 and `of` itself prepends "/" when missing)
//   rooms      array             `.to(room)` applied once per element, in order (JSON type kept:
//                                 strings stay strings, integers stay numbers)
//   except     array             `.except(room)` applied once per element, in order
//   volatile   bool              apply `.volatile`
//   compress   bool | null       apply `.compress(c)` only when a boolean
//   op         "emit" | "socketsJoin" | "socketsLeave" | "disconnectSockets" | "serverSideEmit"
//                                 (default "emit")
//   event      string            event name for "emit" (default "message")
//   args       array             event arguments for "emit" / "serverSideEmit" (default [])
//   joinRooms  any               argument of socketsJoin / socketsLeave (default [])
//   close      bool              argument of disconnectSockets (default false)
//
// Result: {"channel": "<redis channel>", "hex": "<payload bytes, lowercase hex>"}
//         (Buffer payloads -> their bytes; string payloads -> their UTF-8 bytes)
//      or {"error": "<message>"} when the emitter throws (or publishes nothing).
// Exit status 0 unless stdin is not a JSON array.
'use strict';

const { Emitter } = require('@socket.io/redis-emitter');

function runCase(c) {
  c = c || {};
  const published = [];
  const fakeRedis = {
    publish(channel, msg) {
      published.push({ channel, msg });
      return Promise.resolve(1);
    },
  };

  const key = c.key === undefined ? 'symple' : c.key;
  const nsp = c.nsp === undefined ? '/' : c.nsp;
  const op = c.op === undefined ? 'emit' : c.op;
  const event = c.event === undefined ? 'message' : c.event;
  const args = c.args === undefined ? [] : c.args;

  try {
    let target = new Emitter(fakeRedis, { key });
    if (nsp !== '/') target = target.of(nsp);
    for (const room of c.rooms || []) target = target.to(room);
    for (const room of c.except || []) target = target.except(room);
    if (c.volatile) target = target.volatile;
    if (typeof c.compress === 'boolean') target = target.compress(c.compress);

    switch (op) {
      case 'emit':
        target.emit(event, ...args);
        break;
      case 'socketsJoin':
        target.socketsJoin(c.joinRooms === undefined ? [] : c.joinRooms);
        break;
      case 'socketsLeave':
        target.socketsLeave(c.joinRooms === undefined ? [] : c.joinRooms);
        break;
      case 'disconnectSockets':
        target.disconnectSockets(c.close === undefined ? false : c.close);
        break;
      case 'serverSideEmit':
        if (typeof target.serverSideEmit !== 'function') {
          throw new Error('serverSideEmit is only available on the Emitter, not after to/except/volatile/compress');
        }
        target.serverSideEmit(...args);
        break;
      default:
        throw new Error('unknown op: ' + op);
    }
  } catch (err) {
    return { error: err && err.message !== undefined ? err.message : String(err) };
  }

  if (published.length !== 1) {
    return { error: 'expected exactly one publish, got ' + published.length };
  }
  const { channel, msg } = published[0];
  const bytes = Buffer.isBuffer(msg) ? msg : Buffer.from(String(msg), 'utf8');
  return { channel, hex: bytes.toString('hex') };
}

function main() {
  const chunks = [];
  process.stdin.on('data', (d) => chunks.push(d));
  process.stdin.on('end', () => {
    const text = Buffer.concat(chunks).toString('utf8').trim();
    let cases;
    try {
      cases = text === '' ? [] : JSON.parse(text);
    } catch (err) {
      process.stderr.write('golden.js: stdin is not valid JSON: ' + err.message + '\n');
      process.exit(2);
    }
    if (!Array.isArray(cases)) {
      process.stderr.write('golden.js: stdin must be a JSON array of cases\n');
      process.exit(2);
    }
    const results = cases.map(runCase);
    process.stdout.write(JSON.stringify(results) + '\n', () => process.exit(0));
  });
}

main();
