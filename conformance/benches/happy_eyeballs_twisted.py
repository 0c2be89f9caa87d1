"""Twisted's HostnameEndpoint on the same race as benches/happy_eyeballs.rs.

Usage: python happy_eyeballs_twisted.py ITERATIONS HOST:PORT [HOST:PORT ...]

Resolves "bench.invalid" to the given IPv4 addresses (in that order) through a
fixed name resolver, connects ITERATIONS times with timeout=30 and prints one
line per connect: the milliseconds from endpoint.connect() to the connection
(or "error ..."). Run by the Rust bench when a Twisted virtualenv is present.
"""

import sys
import time

from twisted.internet import defer, protocol, reactor
from twisted.internet.address import IPv4Address
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.interfaces import IHostnameResolver
from zope.interface import implementer


@implementer(IHostnameResolver)
class FixedResolver:
    def __init__(self, addresses):
        self.addresses = addresses

    def resolveHostName(
        self, receiver, hostName, portNumber=0, addressTypes=None, transportSemantics="TCP"
    ):
        receiver.resolutionBegan(None)
        for host, port in self.addresses:
            receiver.addressResolved(IPv4Address("TCP", host, port))
        receiver.resolutionComplete()
        return None


class Quiet(protocol.Protocol):
    pass


@defer.inlineCallbacks
def main(iterations, addresses):
    reactor.installNameResolver(FixedResolver(addresses))
    factory = protocol.Factory.forProtocol(Quiet)
    for _ in range(iterations):
        endpoint = HostnameEndpoint(reactor, b"bench.invalid", 80, timeout=30)
        start = time.perf_counter()
        try:
            proto = yield endpoint.connect(factory)
        except Exception as e:  # noqa: BLE001 - reported, not hidden
            print(f"error {e}", flush=True)
            continue
        elapsed = (time.perf_counter() - start) * 1000
        print(f"{elapsed:.3f}", flush=True)
        proto.transport.abortConnection()


def run():
    iterations = int(sys.argv[1])
    addresses = []
    for arg in sys.argv[2:]:
        host, port = arg.rsplit(":", 1)
        addresses.append((host, int(port)))
    d = main(iterations, addresses)
    d.addErrback(lambda f: print(f"error {f.getErrorMessage()}", flush=True))
    d.addBoth(lambda _: reactor.stop())
    reactor.run()


if __name__ == "__main__":
    run()
