#!/usr/bin/env python3
"""Chapter 02's reference: the lesson's stream echo server in today's asyncio.

The lesson's code, brought to Python 3.11 (`async def` instead of
`@asyncio.coroutine`, `asyncio.run()`), with the chapter's options and first
line, a quiet exit on SIGINT and SIGTERM, and two things the C++ chapter does
that the lesson leaves out: `drain()` after each write, and closing the writer
when the handler ends (CPython's garbage collector did that for the lesson).
"""
import argparse
import asyncio
import signal
import sys


def make_handler(quiet):
    async def client_connected_handler(client_reader, client_writer):
        print("Connection received!")
        while True:
            data = await client_reader.read(8192)
            if not data:
                break
            if not quiet:
                print(data)
            client_writer.write(data)
            await client_writer.drain()
        client_writer.close()
    return client_connected_handler


def host_port(host, port):
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def main(args):
    server = await asyncio.start_server(make_handler(args.quiet), args.host, args.port)
    print("Serving on", host_port(args.host, server.sockets[0].getsockname()[1]))
    await server.serve_forever()


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
    sys.stdout.reconfigure(line_buffering=True)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--port", type=int, default=2222)
    parser.add_argument("-q", "--quiet", action="store_true")
    sys.exit(run(main(parser.parse_args())))
