#!/usr/bin/env python3
"""Chapter 03's reference: the lesson's stream echo client in today's asyncio.

The lesson's code, brought to Python 3.11, with --host and --port, and a
refused connection reported in one line, as ch03_stream_echo_client does.
"""
import argparse
import asyncio
import os
import sys

LASTLINE = b'Last line.\n'


def host_port(host, port):
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def simple_echo_client(host, port):
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as error:
        # "Connection refused", worded as C's strerror() (and Asio) word it.
        reason = os.strerror(error.errno) if error.errno else str(error)
        raise SystemExit(f"error: cannot connect to {host_port(host, port)}: {reason}")
    writer.write(b'First line.\n')
    writer.write(b'Second line.\n')
    writer.write(b'Third line.\n')
    writer.write(LASTLINE)
    print("Lines received")
    while True:
        line = await reader.readline()
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
    args = parser.parse_args()
    asyncio.run(simple_echo_client(args.host, args.port))
