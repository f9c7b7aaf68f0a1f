"""Property tests of the framing parsers (prefix, suffix, ws, http) with hypothesis:
any chunking of the wire gives back the messages, detach hands back exactly the bytes
not consumed, and arbitrary garbage only ever raises OSError/Done (bounded runs)."""

import errno
import os
import struct
from collections import deque

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from dill import Done
from dill.net import (
    ByteStream,
    WS_NOHTTP,
    WS_TEXT,
    http_attach,
    http_detach,
    http_done,
    http_recvfield,
    http_recvrequest,
    http_sendfield,
    http_sendrequest,
    mrecv,
    msend,
    prefix_attach,
    prefix_detach,
    suffix_attach,
    suffix_detach,
    ws_attach_server,
    ws_recv,
)

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class MemStream(ByteStream):
    """An in-memory bytestream: receives the given chunks, then Done; records sends."""

    def __init__(self, chunks=()):
        ByteStream.__init__(self)
        self.chunks = deque(bytes(c) for c in chunks if c)
        self.out = bytearray()

    def brecv_some(self, n, deadline=-1):
        self._in_check()
        if not self.chunks:
            raise Done()
        c = self.chunks.popleft()
        if len(c) > n:
            self.chunks.appendleft(c[n:])
            c = c[:n]
        return c

    def unrecv(self, data):
        if data:
            self.chunks.appendleft(bytes(data))

    def bsendl(self, buffers, deadline=-1):
        self._out_check()
        for b in buffers:
            self.out += b

    def done(self, deadline=-1):
        pass

    def rest(self):
        return b"".join(self.chunks)


def chunked(data, cuts):
    cuts = sorted({c % (len(data) + 1) for c in cuts})
    out, prev = [], 0
    for c in cuts + [len(data)]:
        out.append(data[prev:c])
        prev = c
    return [c for c in out if c]


messages = st.lists(st.binary(max_size=300), max_size=12)
cuts = st.lists(st.integers(min_value=0, max_value=10000), max_size=20)


@FUZZ
@given(messages, st.integers(1, 8), st.sampled_from([0, 1]), cuts, st.data())
def test_prefix_roundtrip_any_chunking(msgs, hdrlen, flags, cut, data):
    tx = MemStream()
    p = prefix_attach(tx, hdrlen, flags)
    for m in msgs:
        msend(p, m)
    wire = bytes(tx.out) + b"TAIL"
    rx = MemStream(chunked(wire, cut))
    q = prefix_attach(rx, hdrlen, flags)
    k = data.draw(st.integers(0, len(msgs)))
    for m in msgs[:k]:
        assert mrecv(q) == m
    u = prefix_detach(q)
    consumed = sum(hdrlen + len(m) for m in msgs[:k])
    assert u.rest() == wire[consumed:]


@FUZZ
@given(messages, st.binary(min_size=1, max_size=6), cuts, st.data())
def test_suffix_roundtrip_any_chunking(msgs, delim, cut, data):
    tx = MemStream()
    s = suffix_attach(tx, delim)
    sent = []
    for m in msgs:
        try:
            msend(s, m)
            sent.append(m)
        except ValueError:
            assert delim in m + delim[:-1] or (m + delim).find(delim) != len(m)
    wire = bytes(tx.out)
    rx = MemStream(chunked(wire, cut))
    r = suffix_attach(rx, delim)
    k = data.draw(st.integers(0, len(sent)))
    for m in sent[:k]:
        assert mrecv(r) == m
    u = suffix_detach(r)
    consumed = sum(len(m) + len(delim) for m in sent[:k])
    assert u.rest() == wire[consumed:]


def ws_frame(opcode, payload, fin=True):
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        hdr = bytes((b0, 0x80 | n))
    elif n < 65536:
        hdr = bytes((b0, 0x80 | 126)) + struct.pack("!H", n)
    else:
        hdr = bytes((b0, 0x80 | 127)) + struct.pack("!Q", n)
    key = os.urandom(4)
    return hdr + key + bytes(c ^ key[i % 4] for i, c in enumerate(payload))


ws_messages = st.lists(st.tuples(st.booleans(), st.binary(max_size=400),
                                 st.lists(st.integers(0, 400), max_size=3),
                                 st.booleans()), max_size=8)


@FUZZ
@given(ws_messages, cuts)
def test_ws_reassembly_any_chunking(msgs, cut):
    wire = b""
    expect = []
    for text, payload, splits, ping in msgs:
        if text:
            payload = payload.decode("latin-1").encode("utf-8")
        pts = sorted({s % (len(payload) + 1) for s in splits})
        pieces, prev = [], 0
        for c in pts + [len(payload)]:
            pieces.append(payload[prev:c])
            prev = c
        for i, piece in enumerate(pieces):
            op = (1 if text else 2) if i == 0 else 0
            wire += ws_frame(op, piece, fin=(i == len(pieces) - 1))
            if ping and i == 0:
                wire += ws_frame(0x9, b"p")
        expect.append((WS_TEXT if text else 0, payload))
    rx = MemStream(chunked(wire, cut))
    s, _, _ = ws_attach_server(rx, -1, WS_NOHTTP)
    for e in expect:
        assert ws_recv(s) == e
    with pytest.raises(Done):
        ws_recv(s)


token = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_!#$%&'*+.^`|~",
                min_size=1, max_size=20)
value = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xff,
                                       blacklist_characters="\x7f"), max_size=40)


# A second Host field is a malformed request (h11 refuses it): not generated.
field_name = token.filter(lambda t: t.lower() != "host")


@FUZZ
@given(st.lists(st.tuples(field_name, value), max_size=10), cuts)
def test_http_head_roundtrip(fields, cut):
    tx = MemStream()
    h = http_attach(tx)
    http_sendrequest(h, "POST", "/x?y=z")
    http_sendfield(h, "Host", "example.org")
    for n, v in fields:
        http_sendfield(h, n, v)
    http_done(h)
    wire = bytes(tx.out) + b"BODY"
    r = http_attach(MemStream(chunked(wire, cut)))
    assert http_recvrequest(r) == ("POST", "/x?y=z")
    got = []
    while True:
        try:
            got.append(http_recvfield(r))
        except Done:
            break
    assert got == [("host", "example.org")] + [(n.lower(), v.strip(" \t")) for n, v in fields]
    assert http_detach(r).rest() == b"BODY"


def drain(fn):
    """Call fn until it raises; only OSError (incl. EPROTO/EMSGSIZE/resets) and Done."""
    for _ in range(10000):
        try:
            fn()
        except Done:
            return
        except OSError as e:
            assert e.errno in (errno.EPROTO, errno.EMSGSIZE, errno.ECONNRESET), e
            return
    raise AssertionError("parser did not finish")


garbage = st.binary(max_size=600)


@FUZZ
@given(garbage, cuts, st.integers(1, 8))
def test_garbage_prefix(data, cut, hdrlen):
    p = prefix_attach(MemStream(chunked(data, cut)), hdrlen, max_size=1000)
    drain(lambda: mrecv(p))


@FUZZ
@given(garbage, cuts)
def test_garbage_suffix(data, cut):
    s = suffix_attach(MemStream(chunked(data, cut)), b"\r\n", max_size=100)
    drain(lambda: mrecv(s))


@FUZZ
@given(garbage, cuts, st.booleans())
def test_garbage_ws(data, cut, mask_first):
    if mask_first and data:
        data = bytes((data[0],)) + bytes((data[1] | 0x80,)) + data[2:] if len(data) > 1 else data
    s, _, _ = ws_attach_server(MemStream(chunked(data, cut)), -1, WS_NOHTTP, max_size=1000)
    drain(lambda: ws_recv(s))


@FUZZ
@given(st.one_of(garbage, garbage.map(lambda g: b"GET / HTTP/1.1\r\n" + g)), cuts)
def test_garbage_http(data, cut):
    h = http_attach(MemStream(chunked(data, cut)))

    def step():
        http_recvrequest(h)
        while True:
            http_recvfield(h)

    drain(step)
