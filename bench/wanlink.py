"""A WAN-like TCP link between a client and a server on this machine (not the emulator's shaping).

Forwards every connection from ``127.0.0.1:<port>`` to ``--target`` and, in each
direction, delays every chunk by half the round-trip time and paces it through two
token buckets: one per connection (``--per-conn-mb``) and one shared by all
connections (``--total-mb``). It knows nothing of HTTP or S3, so what it measures is
what a client would see through a real long, fat (or thin) pipe: connection set-up
costs an RTT, ``Expect: 100-continue`` costs an RTT, and more connections help only
until the shared bucket is full.

Usage (prints ``{"port": N}`` on its first line, then serves until killed)::

    python bench/wanlink.py --target 127.0.0.1:9000 --rtt-ms 50 --per-conn-mb 8 --total-mb 64
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
from collections.abc import Callable

MB = 1_000_000
# Bytes read and paced at once: up to asyncio's own read size (256 KiB). Each chunk is
# reserved on the buckets when it arrives and handed to the far side by one timer at
# its due time: no stream buffers, tasks or queues per chunk, so the link copies each
# byte only as the kernel does and spends little CPU (it shares two cores with the
# client and the server it measures). The pacers are a virtual clock, so the average
# rate is exact whatever the chunk.
READ_SIZE = 256 * 1024
# Reading pauses while a connection's bytes are reserved further ahead than this
# (like the sleep of a real shaper's queue), so a fast sender is held back by TCP
# flow control rather than buffered here.
AHEAD_S = 0.002


class Pacer:
    """A token bucket as a virtual clock: ``slot(n, now)`` is when ``n`` bytes may go."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.next_free = 0.0

    def slot(self, n: int, now: float) -> float:
        start = max(now, self.next_free)
        self.next_free = start + n / self.rate
        return self.next_free


class _Half(asyncio.BufferedProtocol):
    """One socket of a forwarded connection; what it reads goes to ``peer`` after pacing."""

    def __init__(self, link: Link, direction: str) -> None:
        self.link = link
        self.own = Pacer(link.per_conn)
        self.shared = link.shared[direction]
        self.buf = bytearray(READ_SIZE)
        self.transport: asyncio.Transport | None = None
        self.peer: _Half | None = None
        self.last_due = 0.0  # when the previous chunk reaches the far side
        self.reading = True
        self.resume_at = 0.0  # reading paused for pacing until then
        self.peer_full = False  # reading paused because the far side's buffer is full
        self.ended = False  # this direction's end has been passed on
        self.closed = asyncio.get_running_loop().create_future()

    # -- the socket this half reads from ---------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> memoryview:
        return memoryview(self.buf)

    def buffer_updated(self, nbytes: int) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        data = bytes(self.buf[:nbytes])  # the only copy: held for half an RTT
        # Paced by the slower of the two buckets, then in flight for half an RTT.
        ready = max(self.own.slot(nbytes, now), self.shared.slot(nbytes, now))
        self.last_due = ready + self.link.delay
        loop.call_at(self.last_due, self._deliver, data)
        if ready - now > AHEAD_S:
            self.resume_at = ready
            self._pause()
            loop.call_at(ready, self._paced)

    def eof_received(self) -> bool:
        self._after_last(self._end_peer)
        return True  # keep the socket open for the other direction

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        self._after_last(self._close_peer)

    # -- flow control ------------------------------------------------------------------
    def _pause(self) -> None:
        if self.reading and self.transport is not None:
            self.reading = False
            self.transport.pause_reading()

    def _maybe_resume(self) -> None:
        loop = asyncio.get_running_loop()
        if (not self.reading and not self.peer_full and loop.time() >= self.resume_at
                and self.transport is not None and not self.transport.is_closing()):
            self.reading = True
            self.transport.resume_reading()

    def _paced(self) -> None:
        self._maybe_resume()

    # The far side's transport calls these on the protocol that owns it; they stop and
    # restart reading on this side (the peer of the half that owns the full transport).
    def pause_writing(self) -> None:
        if self.peer is not None:
            self.peer.peer_full = True
            self.peer._pause()

    def resume_writing(self) -> None:
        if self.peer is not None:
            self.peer.peer_full = False
            self.peer._maybe_resume()

    # -- the other socket ------------------------------------------------------------
    def _deliver(self, data: bytes) -> None:
        peer = self.peer.transport if self.peer is not None else None
        if peer is not None and not peer.is_closing():
            peer.write(data)

    def _after_last(self, action: Callable[[], None]) -> None:
        # Ends travel like data: after this direction's last bytes, half an RTT later.
        loop = asyncio.get_running_loop()
        loop.call_at(max(self.last_due, loop.time() + self.link.delay), action)

    def _end_peer(self) -> None:
        # This direction is finished: half-close the far side (or close the whole
        # connection once the other direction has finished too).
        self.ended = True
        peer = self.peer
        if peer is None or peer.transport is None or peer.transport.is_closing():
            return
        if peer.ended or not peer.transport.can_write_eof():
            self._close_peer()
            if self.transport is not None:
                self.transport.close()
        else:
            peer.transport.write_eof()

    def _close_peer(self) -> None:
        peer = self.peer
        if peer is not None and peer.transport is not None:
            peer.transport.close()


class Link:
    def __init__(self, target: tuple[str, int], rtt: float, per_conn: float,
                 total: float) -> None:
        self.target, self.delay = target, rtt / 2
        self.per_conn, self.total = per_conn, total
        self.shared = {"up": Pacer(total), "down": Pacer(total)}
        self.connections = 0
        self.max_connections = 0

    async def accept(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        self.connections += 1
        self.max_connections = max(self.max_connections, self.connections)
        up, down = _Half(self, "up"), _Half(self, "down")
        up.peer, down.peer = down, up
        try:
            await asyncio.sleep(self.delay * 2)  # the SYN / SYN-ACK round trip
            try:
                await loop.connect_accepted_socket(lambda: up, sock)
                await loop.create_connection(lambda: down, *self.target)
            except OSError:
                if up.transport is not None:
                    up.transport.close()
                else:
                    sock.close()
                return
            await asyncio.gather(up.closed, down.closed)
        finally:
            self.connections -= 1


async def serve(args: argparse.Namespace) -> None:
    host, port = args.target.rsplit(":", 1)
    link = Link((host, int(port)), args.rtt_ms / 1000, args.per_conn_mb * MB,
                args.total_mb * MB)
    loop = asyncio.get_running_loop()
    listener = socket.create_server(("127.0.0.1", args.port), backlog=256)
    listener.setblocking(False)
    print(json.dumps({"port": listener.getsockname()[1]}), flush=True)
    tasks: set[asyncio.Task[None]] = set()

    async def serve_forever() -> None:
        while True:
            conn, _ = await loop.sock_accept(listener)
            task = asyncio.create_task(link.accept(conn))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    async def report() -> None:
        # The most connections open at once, for the bench to read back.
        while args.stats:
            await asyncio.sleep(0.2)
            with open(args.stats, "w") as fh:
                json.dump({"max_connections": link.max_connections}, fh)

    with listener:
        await asyncio.gather(serve_forever(), report())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target", required=True, help="host:port to forward to")
    p.add_argument("--port", type=int, default=0, help="port to listen on (default: any)")
    p.add_argument("--rtt-ms", type=float, default=50.0, help="round-trip time, ms")
    p.add_argument("--per-conn-mb", type=float, default=8.0, help="MB/s per connection")
    p.add_argument("--total-mb", type=float, default=64.0, help="MB/s over all connections")
    p.add_argument("--stats", default="", help="file to write the connection count to")
    args = p.parse_args()
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
