"""What the message layers framed on a bytestream (prefix, suffix, ws) share: how
the end of the stream beneath shows in a receive, and what a detach does after."""

import errno

import pytest

import dill
from dill import BadHandle, Done
from dill.net import (
    WS_NOHTTP, bsend, ipc_pair, mrecv, prefix_attach, prefix_detach, suffix_attach,
    suffix_detach, ws_attach_server, ws_detach,
)


def _ws_server(b):
    return ws_attach_server(b, -1, WS_NOHTTP)[0]


# (attach on the receiving bytestream, a whole message in its framing, detach)
LAYERS = {
    "prefix": (lambda b: prefix_attach(b, 2), b"\x00\x03abc", prefix_detach),
    "suffix": (lambda b: suffix_attach(b, b"\n"), b"abc\n", suffix_detach),
    # a client's binary frame: masked with a zero key, so the payload is as sent
    "ws": (_ws_server, b"\x82\x83\x00\x00\x00\x00abc", ws_detach),
}


@pytest.fixture(params=sorted(LAYERS))
def layer(request):
    return LAYERS[request.param]


def test_end_between_messages_is_done_and_sticky(layer):
    attach, message, _ = layer
    a, b = ipc_pair()
    s = attach(b)
    bsend(a, message)
    a.done()
    assert mrecv(s, dill.now() + 1000) == b"abc"
    for _ in range(2):
        with pytest.raises(Done):
            mrecv(s, dill.now() + 1000)
    a.close(), s.close()


def test_end_in_a_message_is_eproto_then_reset_and_detach_closes_the_stack(layer):
    attach, message, detach = layer
    a, b = ipc_pair()
    s = attach(b)
    bsend(a, message[:-1])
    a.done()
    with pytest.raises(OSError) as ei:
        mrecv(s, dill.now() + 1000)
    assert ei.value.errno == errno.EPROTO
    with pytest.raises(ConnectionResetError):
        mrecv(s, 0)
    with pytest.raises(ConnectionResetError):
        detach(s)                  # a failed receive direction: the stack is closed
    with pytest.raises(BadHandle):
        mrecv(s, 0)
    with pytest.raises(BadHandle):
        bsend(b, b"x")
    a.close()
