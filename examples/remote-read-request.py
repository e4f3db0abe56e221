#!/usr/bin/env python3
"""Writes a Prometheus remote-read request body for curl: a prompb.ReadRequest with one query
(one label matcher, [start_ms, end_ms]) asking for STREAMED_XOR_CHUNKS, snappy block format
(one literal: the body is tiny), as Prometheus's own clients send it.

Usage: remote-read-request.py OUT START_MS END_MS NAME OP VALUE   (OP: = != =~ !~)
Equality on a Prometheus's own external label is rewritten by its read handler to `=""`; use
`=~` with the escaped value there, as benchmon does.
"""
import sys

OPS = {"=": 0, "!=": 1, "=~": 2, "!~": 3}


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(num, wire, payload):
    return varint(num << 3 | wire) + (varint(len(payload)) + payload if wire == 2 else payload)


out, start, end, name, op, value = sys.argv[1:7]
matcher = field(1, 0, varint(OPS[op])) + field(2, 2, name.encode()) + field(3, 2, value.encode())
query = field(1, 0, varint(int(start))) + field(2, 0, varint(int(end))) + field(3, 2, matcher)
req = field(1, 2, query) + field(2, 2, varint(1))
assert len(req) <= 256, "one snappy literal of up to 256 bytes"
with open(out, "wb") as f:
    f.write(varint(len(req)) + bytes([60 << 2, len(req) - 1]) + req)
