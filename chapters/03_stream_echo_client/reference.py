#!/usr/bin/env python3
"""Chapter 03's reference: the lesson's stream echo client in today's asyncio.

The lesson's code, brought to Python 3.11, with --host and --port, a
refused connection reported in one line, and --timeout SECONDS for the
connect and each read (asyncio.wait_for), as ch03_stream_echo_client does.
"""
import argparse
import asyncio
import math
import os
import sys

LASTLINE = b'Last line.\n'


def host_port(host, port):
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def seconds(text):
    """--timeout's value: 0.001 to 86400 seconds, as the C++ programs check it."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds")
    if not math.isfinite(value) or not 0.001 <= value <= 86400:
        raise argparse.ArgumentTypeError(f"{text} is not between 0.001 and 86400")
    return value


async def within(timeout, awaitable, what):
    """The awaitable's result, or exit with status 1 once timeout has passed."""
    if timeout is None:
        return await awaitable
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except asyncio.TimeoutError:
        raise SystemExit(f"error: {what} within {timeout:g} s")


async def simple_echo_client(host, port, timeout=None):
    where = host_port(host, port)
    try:
        reader, writer = await within(
            timeout, asyncio.open_connection(host, port), f"cannot connect to {where}")
    except OSError as error:
        # "Connection refused", worded as C's strerror() (and Asio) word it.
        reason = os.strerror(error.errno) if error.errno else str(error)
        raise SystemExit(f"error: cannot connect to {where}: {reason}")
    writer.write(b'First line.\n')
    writer.write(b'Second line.\n')
    writer.write(b'Third line.\n')
    writer.write(LASTLINE)
    print("Lines received")
    while True:
        line = await within(timeout, reader.readline(), f"no line from {where}")
        print(line)
        if line == LASTLINE or not line:
            break
    writer.close()
    await writer.wait_closed()


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--port", type=int, default=2222)
    parser.add_argument("--timeout", type=seconds, default=None,
                        help="seconds the connect and each read may take (default: no limit)")
    args = parser.parse_args()
    asyncio.run(simple_echo_client(args.host, args.port, args.timeout))
