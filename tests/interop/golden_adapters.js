#!/usr/bin/env node
// Reference ("golden") commands from the real adapters' own publish path: a socket.io 4.8
// Server whose namespace adapter is `createShardedAdapter` of @socket.io/redis-adapter 8.3.0
// or `createAdapter` of @socket.io/redis-streams-adapter 0.3.1, over stand-in Redis clients that
// record the command the adapter sends instead of sending it. The adapter's uid is set to
// "emitter" (socket.io-adapter's EMITTER_UID), the uid symple writes.
//
// stdin:  a JSON array of cases; stdout: a JSON array of results, one per case, in order.
//
// Case fields (all optional unless said):
//   adapter      "sharded" | "streams"   (required)
//   key          string   sharded: channelPrefix (default "symple")
//   mode         string   sharded: subscriptionMode (default: the adapter's, "dynamic")
//   stream       string   streams: streamName (default: the adapter's, "socket.io")
//   maxLen       number   streams: maxLen (default: the adapter's, 10000)
//   streamCount  number   streams: streamCount (default: the adapter's, 1)
//   nsp, rooms, except, volatile, compress, op, event, args, joinRooms, close: as in golden.js
//                (op: "emit" | "socketsJoin" | "socketsLeave" | "disconnectSockets")
//
// Result: {"command": ["SPUBLISH", channel, payload]} or {"command": ["XADD", key, "MAXLEN",
//         "~", n, "*", field, value, ...]} (every argument as a string, payloads as UTF-8 text)
//      or {"error": "<message>"} when socket.io throws (or the adapter sends no one command).
'use strict';

const { Server } = require('socket.io');
const { createShardedAdapter } = require('@socket.io/redis-adapter');
const { createAdapter: createStreamsAdapter } = require('@socket.io/redis-streams-adapter');
const { applyCase, errorResult, serveCases } = require('./cases');

const never = new Promise(() => {});

// node-redis v4 look-alikes (the adapter tests for `sSubscribe`): SPUBLISH is recorded.
function shardedAdapter(c, sent) {
  const sub = { sSubscribe() {}, sUnsubscribe() {} };
  const pub = {
    sSubscribe() {},
    sUnsubscribe() {},
    sPublish(channel, payload) {
      sent.push(['SPUBLISH', channel, String(payload)]);
      return Promise.resolve(1);
    },
  };
  const opts = { channelPrefix: c.key === undefined ? 'symple' : c.key };
  if (c.mode !== undefined) opts.subscriptionMode = c.mode;
  return createShardedAdapter(pub, sub, opts);
}

// An ioredis look-alike (no `sSubscribe`), so the adapter hands XADD its raw argument list.
// Its readers and subscriber are duplicates that never answer.
function streamsAdapter(c, sent) {
  const idle = {
    on() {},
    xread() {
      return never;
    },
    subscribe() {},
    disconnect() {},
  };
  const client = {
    options: {},
    duplicate() {
      return idle;
    },
    xadd(...args) {
      const flat = args.length === 1 && Array.isArray(args[0]) ? args[0] : args;
      sent.push(['XADD', ...flat.map(String)]);
      return Promise.resolve('1-0');
    },
    publish(channel, payload) {
      sent.push(['PUBLISH', channel, String(payload)]);
      return Promise.resolve(1);
    },
  };
  const opts = {};
  if (c.stream !== undefined) opts.streamName = c.stream;
  if (c.maxLen !== undefined) opts.maxLen = c.maxLen;
  if (c.streamCount !== undefined) opts.streamCount = c.streamCount;
  return createStreamsAdapter(client, opts);
}

function runCase(c) {
  const sent = [];
  try {
    let adapter;
    if (c.adapter === 'sharded') adapter = shardedAdapter(c, sent);
    else if (c.adapter === 'streams') adapter = streamsAdapter(c, sent);
    else throw new Error('unknown adapter: ' + c.adapter);
    const io = new Server({ adapter });
    const nsp = io.of(c.nsp === undefined ? '/' : c.nsp);
    nsp.adapter.uid = 'emitter';
    applyCase(nsp, c);
  } catch (err) {
    return errorResult(err);
  }
  if (sent.length !== 1) return { error: 'expected exactly one command, got ' + JSON.stringify(sent) };
  return { command: sent[0] };
}

serveCases('golden_adapters.js', runCase);
