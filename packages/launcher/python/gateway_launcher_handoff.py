"""Handoff port mode, kernel side: ZMQ sockets adopt the launcher's listening sockets.

gateway-launcher (``--mode handoff``) binds and listens on the kernel's five
ports itself, inside the port range, and starts the kernel with those
listening sockets as inherited file descriptors. ``install()`` wraps
``zmq.Socket.bind`` so that a bind to one of those ports adopts the inherited
socket (``ZMQ_USE_FD``) instead of creating a new one: the port never goes
free between the launcher's reservation and the kernel's bind, and a client
that connects early waits in the listen backlog.

Set by the launcher (no secrets):

- ``GL_HANDOFF_FDS``: ``port:fd`` pairs, comma-separated.
- ``GL_HANDOFF_STATUS_FD``: a descriptor this module writes one status line
  to, then closes: ``adopted <n>`` once every port is adopted, or
  ``direct <reason>`` when this zmq cannot adopt (pyzmq without ``USE_FD``,
  libzmq older than 4.2). In that case the kernel binds the same ports
  itself, as in direct mode: each inherited socket is closed right before
  the bind that takes its port.

Both variables are removed from ``os.environ``, and the descriptors are made
non-inheritable, so processes the kernel starts see neither.
"""
import os
import threading

FDS_ENV = "GL_HANDOFF_FDS"
STATUS_ENV = "GL_HANDOFF_STATUS_FD"
# Bounds on what is read from the environment: five kernel ports, a few digits each.
_MAX_PAIRS = 16


def _parse_pairs(text):
    """``"port:fd,..."`` to ``{port: fd}``; raises ValueError on anything else."""
    pairs = {}
    items = [item for item in text.split(",") if item]
    if len(items) > _MAX_PAIRS:
        raise ValueError("too many port:fd pairs")
    for item in items:
        port, _, fd = item.partition(":")
        port, fd = int(port), int(fd)
        if not 0 < port < 65536 or fd < 3:
            raise ValueError("port or descriptor out of range: %r" % item)
        pairs[port] = fd
    return pairs


def _tcp_port(addr):
    """The numeric port of a ``tcp://host:port`` address, else None (``*``, ipc, inproc)."""
    if not isinstance(addr, str) or not addr.startswith("tcp://"):
        return None
    tail = addr.rpartition(":")[2]
    return int(tail) if tail.isdigit() else None


class _Status:
    """The one-line report to the launcher; written at most once."""

    def __init__(self, fd):
        self._fd = fd
        self._lock = threading.Lock()

    def report(self, line):
        with self._lock:
            if self._fd is None:
                return
            fd, self._fd = self._fd, None
        try:
            os.write(fd, (line + "\n").encode("ascii", "replace")[:256])
        except OSError:
            pass  # the launcher went away; its parent-death signal ends us soon
        finally:
            os.close(fd)


def _unsupported_reason(zmq):
    if getattr(zmq, "USE_FD", None) is None:
        return "pyzmq %s has no USE_FD" % getattr(zmq, "__version__", "?")
    if zmq.zmq_version_info() < (4, 2):
        return "libzmq %s is older than 4.2 (no ZMQ_USE_FD)" % zmq.zmq_version()
    return None


def install(environ=None):
    """Reads the launcher's handoff variables and arms the adopting bind; a no-op without them."""
    environ = os.environ if environ is None else environ
    spec = environ.pop(FDS_ENV, None)
    status_text = environ.pop(STATUS_ENV, None)
    status = None
    if status_text:
        status_fd = int(status_text)
        os.set_inheritable(status_fd, False)
        status = _Status(status_fd)
    if not spec:
        return
    pending = _parse_pairs(spec)
    for fd in pending.values():
        os.set_inheritable(fd, False)
    import zmq

    reason = _unsupported_reason(zmq)
    if reason is not None and status is not None:
        status.report("direct " + reason)

    use_fd = getattr(zmq, "USE_FD", None)
    original_bind = zmq.Socket.bind
    lock = threading.Lock()  # the heartbeat binds from its own thread
    total = len(pending)

    def bind(self, addr):
        port = _tcp_port(addr)
        with lock:
            fd = pending.get(port) if port is not None else None
        if fd is None:
            return original_bind(self, addr)
        if reason is not None:
            # Cannot adopt: give the port up only now, right before this bind takes it (direct mode's race, narrowed).
            os.close(fd)
            with lock:
                pending.pop(port, None)
            return original_bind(self, addr)
        self.setsockopt(use_fd, fd)
        try:
            result = original_bind(self, addr)
        finally:
            self.setsockopt(use_fd, -1)
        with lock:
            pending.pop(port, None)
            done = not pending
        if done:
            zmq.Socket.bind = original_bind
            if status is not None and reason is None:
                status.report("adopted %d" % total)
        return result

    zmq.Socket.bind = bind
