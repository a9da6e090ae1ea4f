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
import sys
import time

MB = 1_000_000
# Bytes read and paced at once: what the per-connection rate sends in 25 ms (a half of
# the half-RTT), within 64-256 KiB. Larger chunks cost fewer event-loop steps per byte
# (this process shares the CPU with the client and the server it measures); the
# pacers are a virtual clock, so the average rate is exact whatever the chunk.
MIN_CHUNK, MAX_CHUNK = 64 * 1024, 256 * 1024
# asyncio's stream buffer (default 64 KiB) must hold a whole chunk, or reads come short.
STREAM_LIMIT = 4 * MAX_CHUNK


def chunk_for(per_conn: float) -> int:
    return int(max(MIN_CHUNK, min(MAX_CHUNK, per_conn * 0.025)))


class Pacer:
    """A token bucket as a virtual clock: ``reserve(n)`` returns when ``n`` bytes may go."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.next_free = 0.0

    def slot(self, n: int, now: float) -> float:
        start = max(now, self.next_free)
        self.next_free = start + n / self.rate
        return self.next_free


class Link:
    def __init__(self, target: tuple[str, int], rtt: float, per_conn: float,
                 total: float) -> None:
        self.target, self.delay = target, rtt / 2
        self.per_conn, self.total = per_conn, total
        self.chunk = chunk_for(per_conn)
        self.shared = {"up": Pacer(total), "down": Pacer(total)}
        self.connections = 0
        self.max_connections = 0

    async def pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   direction: str) -> None:
        own = Pacer(self.per_conn)
        shared = self.shared[direction]
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                loop_now = time.monotonic()
                if due > loop_now:
                    await asyncio.sleep(due - loop_now)
                writer.write(data)
                await writer.drain()
            writer.close()

        sender = asyncio.create_task(deliver())
        try:
            while True:
                data = await reader.read(self.chunk)
                now = time.monotonic()
                if not data:
                    await queue.put((now + self.delay, b""))
                    break
                # Paced by the slower of the two buckets, then in flight for half an RTT.
                ready = max(own.slot(len(data), now), shared.slot(len(data), now))
                if ready - now > 0.002:
                    await asyncio.sleep(ready - now)
                await queue.put((ready + self.delay, data))
        except (ConnectionError, asyncio.CancelledError):
            await queue.put((0.0, b""))
        await sender

    async def handle(self, c_reader: asyncio.StreamReader,
                     c_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.max_connections = max(self.max_connections, self.connections)
        try:
            await asyncio.sleep(self.delay * 2)  # the SYN / SYN-ACK round trip
            s_reader, s_writer = await asyncio.open_connection(*self.target,
                                                               limit=STREAM_LIMIT)
            await asyncio.gather(self.pipe(c_reader, s_writer, "up"),
                                 self.pipe(s_reader, c_writer, "down"),
                                 return_exceptions=True)
        except OSError:
            c_writer.close()
        finally:
            self.connections -= 1


async def serve(args: argparse.Namespace) -> None:
    host, port = args.target.rsplit(":", 1)
    link = Link((host, int(port)), args.rtt_ms / 1000, args.per_conn_mb * MB,
                args.total_mb * MB)
    server = await asyncio.start_server(link.handle, "127.0.0.1", args.port,
                                        limit=STREAM_LIMIT)
    print(json.dumps({"port": server.sockets[0].getsockname()[1]}), flush=True)

    async def report() -> None:
        # The most connections open at once, for the bench to read back.
        while args.stats:
            await asyncio.sleep(0.2)
            with open(args.stats, "w") as fh:
                json.dump({"max_connections": link.max_connections}, fh)

    async with server:
        await asyncio.gather(server.serve_forever(), report())


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
