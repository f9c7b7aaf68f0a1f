"""Green ``select``: ``select()``, ``poll()`` and ``epoll`` block only the calling coroutine.

Each call first polls without blocking; only when nothing is ready does it wait,
by registering the fds in a private epoll instance and waiting for that single
fd to become readable through the hub, so the hub keeps running everything else.
A zero timeout never waits, but when nothing is ready the call first lets the
other ready coroutines run once, so a loop polling with a zero timeout makes
progress.  A canceled coroutine gets ``dill.Canceled`` where the call would have
to wait (or yield).
Everything else is the stdlib module's.
"""

from __future__ import annotations

import select as __select__

from .._errors import TimedOut
from ._sync import deadline_in
from ._util import forget_fd, wait_fd, would_block

for _name, _value in list(vars(__select__).items()):
    if _name not in ("__name__", "__doc__", "__file__", "__spec__", "__loader__",
                     "__package__", "__builtins__", "__cached__"):
        globals()[_name] = _value
del _name, _value

_std_select = __select__.select
_std_poll = __select__.poll
_std_epoll = getattr(__select__, "epoll", None)
# If the stdlib module was already patched, find the originals.
while getattr(_std_select, "_dill_green", False):  # pragma: no cover
    _std_select = _std_select._dill_original
while getattr(_std_poll, "_dill_green", False):  # pragma: no cover
    _std_poll = _std_poll._dill_original
while _std_epoll is not None and getattr(_std_epoll, "_dill_green", False):  # pragma: no cover
    _std_epoll = _std_epoll.__bases__[0]

__all__ = ["error", "select", "poll"] + (["epoll"] if _std_epoll is not None else [])
# What dill.patch() copies onto the stdlib module.
__implements__ = [n for n in __all__ if n != "error"]

_EPOLLIN = getattr(__select__, "EPOLLIN", 1)
_EPOLLOUT = getattr(__select__, "EPOLLOUT", 4)
_EPOLLPRI = getattr(__select__, "EPOLLPRI", 2)
_POLL_TO_EPOLL = (__select__.POLLIN | __select__.POLLPRI | __select__.POLLOUT
                  | getattr(__select__, "POLLRDHUP", 0) | getattr(__select__, "POLLRDNORM", 0)
                  | getattr(__select__, "POLLRDBAND", 0) | getattr(__select__, "POLLWRNORM", 0)
                  | getattr(__select__, "POLLWRBAND", 0))


def _fileno(obj):
    if isinstance(obj, int):
        return obj
    return obj.fileno()


def _wait_any(masks, deadline):
    """Wait until one of ``masks`` ({fd: epoll mask}) is ready or the deadline passes.

    Returns False at the deadline.  Spurious returns are possible (the caller
    re-polls).  An fd the kernel refuses to watch counts as ready.
    """
    if _std_epoll is None:  # pragma: no cover - non-Linux: poll in short naps
        from .._coroutine import msleep
        from .._hub import now
        t = now() + 5
        msleep(t if deadline < 0 else min(t, deadline))
        return deadline < 0 or now() < deadline
    ep = _std_epoll()
    efd = ep.fileno()
    try:
        for fd, mask in masks.items():
            try:
                ep.register(fd, mask)
            except OSError:
                return True  # EBADF/EPERM: the caller's non-blocking poll reports it
        try:
            wait_fd(efd, 0, deadline, "select")
        except TimedOut:
            return False
        return True
    finally:
        forget_fd(efd)
        ep.close()


def _check_timeout_arg(timeout):
    """Validate a select() timeout (seconds) the way the stdlib does."""
    if timeout is None:
        return None
    if timeout.__class__ not in (int, float) or timeout < 0 or timeout != timeout:
        _std_select([], [], [], timeout)  # raises the stdlib's TypeError/ValueError
        timeout = float(timeout)
    return timeout


def select(rlist, wlist, xlist, timeout=None):
    """Wait until one or more file descriptors are ready for some kind of I/O.

    As ``select.select``, but only the calling coroutine waits.
    """
    timeout = _check_timeout_arg(timeout)
    if not (rlist.__class__ is list and wlist.__class__ is list
            and xlist.__class__ is list):
        try:  # iterators: read them once
            rlist, wlist, xlist = list(rlist), list(wlist), list(xlist)
        except TypeError:
            return _std_select(rlist, wlist, xlist, 0)  # raises the stdlib's error
    r = _std_select(rlist, wlist, xlist, 0)
    if r[0] or r[1] or r[2]:
        return r
    if timeout == 0:
        would_block()
        return r
    masks = {}
    for objs, bit in ((rlist, _EPOLLIN), (wlist, _EPOLLOUT), (xlist, _EPOLLPRI)):
        for obj in objs:
            fd = _fileno(obj)
            masks[fd] = masks.get(fd, 0) | bit
    deadline = deadline_in(timeout)
    while True:
        if not masks:
            from .._coroutine import msleep
            msleep(deadline)
            if deadline >= 0:
                return [], [], []
            continue
        ready = _wait_any(masks, deadline)
        r = _std_select(rlist, wlist, xlist, 0)
        if r[0] or r[1] or r[2] or not ready:
            return r


select._dill_green = True
select._dill_original = _std_select


_INT_MAX = 2 ** 31 - 1
_INT_MIN = -2 ** 31


def _poll_timeout(timeout):
    """poll()'s timeout (ms) to a deadline: None/negative wait forever."""
    if timeout is None:
        return -1
    if timeout.__class__ not in (int, float):
        try:
            timeout = timeout.__index__()
        except AttributeError:
            try:
                timeout = float(timeout)
            except (TypeError, ValueError):
                raise TypeError("timeout must be an integer or None") from None
    if not _INT_MIN <= timeout <= _INT_MAX:  # the C int poll(2) takes
        raise OverflowError("timeout is too large")
    if timeout < 0:  # however little: the stdlib rounds away from zero
        return -1
    ms = int(timeout)
    if ms < timeout:
        ms += 1
    if ms == 0:
        return 0
    from .._hub import now
    return now() + ms


class _GreenPoll:
    """The object ``poll()`` returns: the stdlib's, waiting green."""

    __slots__ = ("_p", "_masks", "_polling", "__weakref__")

    def __new__(cls, *args, **kwargs):  # as the stdlib's: made by poll() only
        raise TypeError(f"cannot create '{cls.__module__}.{cls.__name__}' instances")

    @classmethod
    def _make(cls):
        self = object.__new__(cls)
        self._p = _std_poll()
        self._masks = {}
        self._polling = False
        return self

    def register(self, fd, eventmask=__select__.POLLIN | __select__.POLLPRI
                 | __select__.POLLOUT):
        self._p.register(fd, eventmask)
        self._masks[_fileno(fd)] = eventmask

    def modify(self, fd, eventmask):
        self._p.modify(fd, eventmask)
        self._masks[_fileno(fd)] = eventmask

    def unregister(self, fd):
        self._p.unregister(fd)
        del self._masks[_fileno(fd)]

    def poll(self, timeout=None):
        if self._polling:  # as the C object: one poll() at a time
            raise RuntimeError("concurrent poll() invocation")
        deadline = _poll_timeout(timeout)
        r = self._p.poll(0)
        if r:
            return r
        if deadline == 0:
            would_block()
            return r
        self._polling = True
        try:
            while True:
                masks = {fd: m & _POLL_TO_EPOLL for fd, m in self._masks.items()}
                if masks:
                    ready = _wait_any(masks, deadline)
                else:
                    from .._coroutine import msleep
                    msleep(deadline)
                    ready = deadline < 0
                r = self._p.poll(0)
                if r or not ready:
                    return r
        finally:
            self._polling = False

    register.__doc__ = "Register a file descriptor with the polling object."
    poll.__doc__ = "Poll the registered file descriptors (only the calling coroutine waits)."


def poll():
    """Return a polling object whose ``poll()`` blocks only the calling coroutine."""
    return _GreenPoll._make()


poll._dill_green = True
poll._dill_original = _std_poll


if _std_epoll is not None:
    class epoll:
        """``select.epoll`` whose ``poll()`` blocks only the calling coroutine.

        (The stdlib type cannot be subclassed: this wraps one.)
        """

        __slots__ = ("_ep", "__weakref__")
        _dill_green = True

        def __init__(self, sizehint=-1, flags=0, *, _ep=None):
            self._ep = _std_epoll(sizehint, flags) if _ep is None else _ep

        @classmethod
        def fromfd(cls, fd):
            """An epoll object wrapping an existing epoll fd."""
            return cls(_ep=_std_epoll.fromfd(fd))

        @property
        def closed(self):
            """True once closed."""
            return self._ep.closed

        def fileno(self):
            """The epoll object's file descriptor."""
            return self._ep.fileno()

        def register(self, fd, eventmask=_EPOLLIN | _EPOLLOUT | _EPOLLPRI):
            """Watch ``fd`` for the events of ``eventmask``."""
            self._ep.register(fd, eventmask)

        def modify(self, fd, eventmask):
            """Change the events watched on a registered ``fd``."""
            self._ep.modify(fd, eventmask)

        def unregister(self, fd):
            """Stop watching ``fd``."""
            self._ep.unregister(fd)

        def poll(self, timeout=None, maxevents=-1):
            """The ready ``(fd, events)`` pairs, waiting up to ``timeout`` seconds
            (None or negative: forever); only the calling coroutine blocks."""
            if timeout is None:
                deadline = -1
            else:
                if timeout.__class__ not in (int, float):
                    try:
                        timeout = float(timeout)
                    except (TypeError, ValueError):
                        raise TypeError("timeout must be an integer or None") from None
                deadline = -1 if timeout < 0 else deadline_in(timeout)
            ep = self._ep
            r = ep.poll(0, maxevents)
            if r:
                return r
            if deadline == 0:
                would_block()
                return r
            fd = ep.fileno()
            while True:
                try:
                    wait_fd(fd, 0, deadline, "select")
                except TimedOut:
                    return ep.poll(0, maxevents)
                r = ep.poll(0, maxevents)
                if r:
                    return r

        def close(self):
            """Close the epoll fd (the hub forgets it first)."""
            ep = self._ep
            if not ep.closed:
                forget_fd(ep.fileno())
            ep.close()

        def __enter__(self):
            if self._ep.closed:
                raise ValueError("I/O operation on closed epoll object")
            return self

        def __exit__(self, *exc):
            self.close()

        def __del__(self):
            try:
                ep = self._ep
                if not ep.closed:
                    forget_fd(ep.fileno())
            except BaseException:  # pragma: no cover
                pass
