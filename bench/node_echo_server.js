// Chapter 04's Node.js peer: the echo server a JavaScript reader would
// write, on Node's `net` module (libuv underneath, like uvloop).
//
// Same contract as the chapter servers: --host, --port (0 picks a free
// port), --quiet (accepted; it never prints per message), "Serving on
// HOST:PORT" first, exit status 0 on SIGINT or SIGTERM.
'use strict';
const net = require('net');

const options = { host: 'localhost', port: 2222 };
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--host' && i + 1 < args.length) options.host = args[++i];
  else if (args[i] === '--port' && i + 1 < args.length) options.port = Number(args[++i]);
  else if (args[i] === '--quiet') continue;
  else {
    console.error(`error: unknown or incomplete option: ${args[i]}`);
    process.exit(2);
  }
}

// noDelay: send each echo at once, as asyncio, uvloop and the chapters do
// (they all set TCP_NODELAY).
const server = net.createServer({ noDelay: true }, (socket) => {
  // pipe() is Node's flow control: it stops reading while the echo cannot
  // be written, as the chapter servers' drain() does.
  socket.pipe(socket);
  socket.on('error', () => socket.destroy());
});

server.listen(options.port, options.host, () => {
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  console.log(`Serving on ${host}:${server.address().port}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
