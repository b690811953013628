#!/usr/bin/env node
// npm's symple@2.1.1 (Socket.IO + @socket.io/redis-adapter, key "symple") in a process of its
// own, so benches/server.rs can read its RSS apart from any client.
//
//   node --expose-gc symple-server.js REDIS_URL
//
// stdout: JSON lines only: {"event":"listening","port":P} once the Redis adapter is
// subscribed, then {"event":"gc"} after each "gc" line on stdin (a full collection, so RSS
// readings are not inflated by garbage; only with --expose-gc). stdin EOF ends the process.
// Options as benches/README.md describes: authentication off, dynamic rooms on.
'use strict';

const path = require('path');
const http = require('http');
const util = require('util');

// Dependencies come from the interop tests' locked install.
const NM = path.join(__dirname, '..', '..', 'tests', 'interop', 'node_modules');
const Symple = require(path.join(NM, 'symple'));
const { createClient } = require(path.join(NM, 'redis'));

console.log = (...a) => process.stderr.write(util.format(...a) + '\n');
console.info = console.log;
console.warn = console.log;
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const fatal = (m) => {
  out({ event: 'fatal', message: String(m) });
  process.exit(1);
};

const REDIS_URL = process.argv[2];
if (!REDIS_URL) fatal('usage: symple-server.js REDIS_URL');
delete process.env.PORT; // symple listens on process.env.PORT || config.port

async function main() {
  const deadline = Date.now() + 10000;
  const ctl = createClient({ url: REDIS_URL });
  ctl.on('error', (e) => console.log('control redis:', e.message));
  await ctl.connect();
  const numsub = async () =>
    Number((await ctl.sendCommand(['PUBSUB', 'NUMSUB', 'symple-request#/#']))[1]);
  const baseline = await numsub();

  const s = new Symple({ port: 0, redis: REDIS_URL, authentication: false, dynamicRooms: true });
  // symple's initHTTP() keeps a server that is already set: loopback, free port.
  s.server = http.createServer();
  await new Promise((resolve, reject) => {
    s.server.once('error', reject);
    s.server.listen({ port: 0, host: '127.0.0.1' }, resolve);
  });
  s.init();
  // The adapter is attached after the pub/sub clients connect; it PSUBSCRIBEs symple#/#*
  // before SUBSCRIBE symple-request#/#, so NUMSUB growing means emitter packets arrive.
  for (;;) {
    if (s.io.of('/').adapter.constructor.name === 'RedisAdapter' && (await numsub()) > baseline) break;
    if (Date.now() > deadline) fatal('the Redis adapter did not subscribe within 10 s');
    await new Promise((r) => setTimeout(r, 20));
  }
  await ctl.quit();
  out({ event: 'listening', port: s.server.address().port });

  const rl = require('readline').createInterface({ input: process.stdin, terminal: false });
  rl.on('line', (line) => {
    if (line.trim() === 'gc') {
      if (global.gc) {
        global.gc();
        global.gc();
      }
      out({ event: 'gc', exposed: !!global.gc });
    }
  });
  rl.on('close', () => process.exit(0));
}

main().catch((e) => fatal(e && e.message ? e.message : e));
