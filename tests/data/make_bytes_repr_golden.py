#!/usr/bin/env python3
"""Writes (or with --check, verifies) the golden file of bytes_repr_test.

Each line is one case: the input bytes in hex, a tab, then Python's
repr() of those bytes. The cases: every single byte value, the quote-choice
cases, and all 256 byte values in one string.
"""
import sys


def cases():
    for value in range(256):
        yield bytes([value])
    yield b""
    yield b"'"
    yield b'"'
    yield b"'\""
    yield b"it's"
    yield b'say "hi"'
    yield b"both ' and \" and \\"
    yield b"First line.\nSecond line.\n"
    yield bytes(range(256))


def golden():
    return "".join(f"{case.hex()}\t{case!r}\n" for case in cases())


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        with open(sys.argv[2], encoding="ascii") as file:
            if file.read() != golden():
                sys.exit(f"{sys.argv[2]} differs from this Python's repr(); regenerate it")
        print("golden file matches Python's repr()")
    elif len(sys.argv) == 2:
        with open(sys.argv[1], "w", encoding="ascii") as file:
            file.write(golden())
    else:
        sys.exit("usage: make_bytes_repr_golden.py [--check] FILE")
