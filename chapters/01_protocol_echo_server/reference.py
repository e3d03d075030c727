#!/usr/bin/env python3
"""Chapter 01's reference: the lesson's protocol echo server in today's asyncio.

The lesson's code with three changes, so that it behaves exactly as
ch01_protocol_echo_server does and the same tests can check both:
  * `asyncio.run()` instead of `get_event_loop()` (Python 3.10 deprecated that);
  * the options --host, --port, --quiet and --forever, and a first line that
    says where it serves;
  * SIGINT and SIGTERM end it quietly with status 0.
"""
import argparse
import asyncio
import signal
import sys


class SimpleEchoProtocol(asyncio.Protocol):
    def __init__(self, server_holder, quiet, forever):
        self.server_holder = server_holder
        self.quiet = quiet
        self.forever = forever
        self.transport = None

    def connection_made(self, transport):
        print("Connection received!")
        self.transport = transport

    def data_received(self, data):
        if not self.quiet:
            print(data)
        self.transport.write(b'echo:')
        self.transport.write(data)

    def connection_lost(self, exc):
        if self.forever:
            print("Connection lost!")
            return
        print("Connection lost! Closing server...")
        self.server_holder[0].close()


def host_port(host, port):
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def main(args):
    loop = asyncio.get_running_loop()
    server_holder = []  # The lesson uses a global; the factory runs later.
    server = await loop.create_server(
        lambda: SimpleEchoProtocol(server_holder, args.quiet, args.forever),
        args.host, args.port)
    server_holder.append(server)
    print("Serving on", host_port(args.host, server.sockets[0].getsockname()[1]))
    await server.wait_closed()


def run(coroutine):
    """asyncio.run(), ended quietly with status 0 by SIGINT or SIGTERM."""
    async def guarded():
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, task.cancel)
        try:
            await coroutine
        except asyncio.CancelledError:
            pass
    try:
        asyncio.run(guarded())
    except OSError as error:
        print(f"error: {error.strerror or error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # A line at a time, even into a pipe.
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--port", type=int, default=2222)
    parser.add_argument("-q", "--quiet", action="store_true")
    parser.add_argument("--forever", action="store_true")
    sys.exit(run(main(parser.parse_args())))
