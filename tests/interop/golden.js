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
const { applyCase, errorResult, serveCases } = require('./cases');

function runCase(c) {
  const published = [];
  const fakeRedis = {
    publish(channel, msg) {
      published.push({ channel, msg });
      return Promise.resolve(1);
    },
  };

  const key = c.key === undefined ? 'symple' : c.key;
  const nsp = c.nsp === undefined ? '/' : c.nsp;
  try {
    let target = new Emitter(fakeRedis, { key });
    if (nsp !== '/') target = target.of(nsp);
    applyCase(target, c);
  } catch (err) {
    return errorResult(err);
  }

  if (published.length !== 1) {
    return { error: 'expected exactly one publish, got ' + published.length };
  }
  const { channel, msg } = published[0];
  const bytes = Buffer.isBuffer(msg) ? msg : Buffer.from(String(msg), 'utf8');
  return { channel, hex: bytes.toString('hex') };
}

serveCases('golden.js', runCase);
