"""Oracle for core/tests/twisted_differential.rs: asks real Twisted what it makes of
endpoint descriptions.

Protocol: one JSON object per line on stdin, one JSON object per line on stdout, in
the same order.

  {"op": "hello"}                 -> {"twisted": "<version>"}
  {"op": "raw", "s": DESC}        -> {"args": [...], "kwargs": {...}}
                                     (twisted.internet.endpoints._parse)
  {"op": "server", "s": DESC}     -> {"endpoint": {...}}   (serverFromString)
  {"op": "client", "s": DESC}     -> {"endpoint": {...}}   (clientFromString)

Any exception gives {"error": "<exception class name>", "message": "<str(exc)>"}.

Endpoints are described by their class name and the attributes the constructor
stored (see describe()). serverFromString/clientFromString only store the reactor,
so a plain object stands in for it; nothing listens or connects.

Before Twisted is imported, the systemd socket-activation variables are set so that
this process "inherited" descriptors 3, 4, 5 named a, b, c (Twisted reads them once,
at import time).
"""

import json
import os
import sys

os.environ["LISTEN_PID"] = str(os.getpid())
os.environ["LISTEN_FDS"] = "3"
os.environ["LISTEN_FDNAMES"] = "a:b:c"

import socket  # noqa: E402
import warnings  # noqa: E402

warnings.simplefilter("ignore")

import twisted  # noqa: E402
from twisted.internet import endpoints  # noqa: E402


class FakeReactor:
    """Stands in for the reactor: parsing only stores it."""


FAMILIES = {
    socket.AF_INET: "INET",
    socket.AF_INET6: "INET6",
    socket.AF_UNIX: "UNIX",
}


def describe(ep):
    cls = type(ep).__name__
    out = {"class": cls}
    if cls == "_WrapperServerEndpoint":
        out["wrapped"] = describe(ep._wrappedEndpoint)
        out["wrapper"] = ep._wrapperFactory.__name__
        return out
    if cls == "AdoptedStreamServerEndpoint":
        out["fileno"] = ep.fileno
        out["domain"] = FAMILIES.get(ep.addressFamily, str(ep.addressFamily))
        return out
    for name in (
        "_port",
        "_interface",
        "_backlog",
        "_address",
        "_mode",
        "_wantPID",
        "_host",
        "_timeout",
        "_bindAddress",
        "_path",
        "_checkPID",
    ):
        if hasattr(ep, name):
            value = getattr(ep, name)
            if isinstance(value, tuple):
                value = list(value)
            if name in ("_wantPID", "_checkPID"):
                # What Twisted acts on is the truth value (`if checkPID:`); the raw
                # value may be an int, a bool or (for `checkPID=`) a string.
                value = bool(value)
            out[name[1:]] = value
    return out


def handle(req):
    op = req["op"]
    if op == "hello":
        return {"twisted": twisted.__version__}
    s = req["s"]
    try:
        if op == "raw":
            args, kwargs = endpoints._parse(s)
            return {"args": args, "kwargs": kwargs}
        if op == "server":
            return {"endpoint": describe(endpoints.serverFromString(FakeReactor(), s))}
        if op == "client":
            return {"endpoint": describe(endpoints.clientFromString(FakeReactor(), s))}
        return {"error": "BadRequest", "message": op}
    except Exception as e:  # noqa: BLE001 - the exception class is the answer
        return {"error": type(e).__name__, "message": str(e)}


def main():
    out = sys.stdout
    for line in sys.stdin.buffer:
        line = line.strip()
        if not line:
            continue
        req = json.loads(line.decode("utf-8"))
        out.write(json.dumps(handle(req), ensure_ascii=True) + "\n")
    out.flush()


if __name__ == "__main__":
    main()
