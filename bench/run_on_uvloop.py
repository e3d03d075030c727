"""Runs a chapter's reference.py on uvloop instead of asyncio's own loop.

    python3 bench/run_on_uvloop.py chapters/02_stream_echo_server/reference.py --quiet

uvloop (Debian: python3-uvloop) is a drop-in asyncio event loop written in
Cython on libuv, the C library under Node.js. Installing its event loop
policy before the script runs makes the script's asyncio.run() use it, so the
very same program is measured on both loops.
"""
import runpy
import sys

import uvloop

if len(sys.argv) < 2:
    sys.exit("usage: run_on_uvloop.py SCRIPT [ARGS...]")
uvloop.install()
script = sys.argv[1]
sys.argv = sys.argv[1:]  # The script sees its own name and arguments.
runpy.run_path(script, run_name="__main__")
