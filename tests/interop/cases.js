// What golden.js and golden_adapters.js share: applying one case to a Socket.IO emitter or
// namespace, and the stdin/stdout loop (a JSON array of cases in, one of results out).
'use strict';

// Chains the case's rooms, exceptions and flags on `target` (an Emitter, a Namespace), then
// runs its op; throws what socket.io throws.
function applyCase(target, c) {
  for (const room of c.rooms || []) target = target.to(room);
  for (const room of c.except || []) target = target.except(room);
  if (c.volatile) target = target.volatile;
  if (typeof c.compress === 'boolean') target = target.compress(c.compress);
  const op = c.op === undefined ? 'emit' : c.op;
  const args = c.args === undefined ? [] : c.args;
  switch (op) {
    case 'emit':
      target.emit(c.event === undefined ? 'message' : c.event, ...args);
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
}

function errorResult(err) {
  return { error: err && err.message !== undefined ? err.message : String(err) };
}

// Reads the cases from stdin, writes `runCase`'s results to stdout, exits 0 (2 when stdin is
// not a JSON array). Exits explicitly: an adapter's readers may keep the process alive.
function serveCases(script, runCase) {
  const chunks = [];
  process.stdin.on('data', (d) => chunks.push(d));
  process.stdin.on('end', () => {
    const text = Buffer.concat(chunks).toString('utf8').trim();
    let cases;
    try {
      cases = text === '' ? [] : JSON.parse(text);
    } catch (err) {
      process.stderr.write(script + ': stdin is not valid JSON: ' + err.message + '\n');
      process.exit(2);
    }
    if (!Array.isArray(cases)) {
      process.stderr.write(script + ': stdin must be a JSON array of cases\n');
      process.exit(2);
    }
    const results = cases.map((c) => runCase(c || {}));
    process.stdout.write(JSON.stringify(results) + '\n', () => process.exit(0));
  });
}

module.exports = { applyCase, errorResult, serveCases };
