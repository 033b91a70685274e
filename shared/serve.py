"""`python -m shared.serve APP --workers N`: uvicorn worker processes that share the connections evenly.

`uvicorn --workers N` lets every worker accept from one listening socket, and the kernel gives a new connection
to whichever worker asks first. A worker's event loop accepts everything that is waiting when it wakes, so a burst
of new connections lands mostly on one worker. With keep-alive clients that stays so for as long as they are
connected: measured with `journeyline bench ingest`'s 32 connections and two workers, one worker served 2 to 10
times the requests of the other in some runs, and ingest answered 9,400-10,700 single events/s in those runs
against 12,400-13,200 with the connections split evenly (docs/performance.md, "Connections handed out in turn").
Node's cluster module does the same as this for the same reason.

Here the parent process alone accepts, and hands each connection (its file descriptor, over a Unix socket pair) to
the next worker in turn that has finished starting. A worker serves it as it would a connection it accepted
itself: uvicorn's own protocol, limits and graceful shutdown. The parent restarts a worker that dies, stops
everything if a worker cannot start at all (uvicorn's start-up failure exit code), and on SIGINT or SIGTERM stops
accepting and lets the workers finish their requests. With one worker it is plain `uvicorn.run`.

The price is on new connections: a client that opens one for every request costs ~20-30 µs more per request
(the parent's accept and hand-over, ~20 µs of its CPU each; against the trivial app, 135-141 µs per request in all
processes instead of 112-121). A keep-alive connection pays it once. If every client of yours opens a connection
per request and the workers' balance does not matter to you, `uvicorn --workers N` (with INGEST_WORKERS=N) works
as before."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from shared.logging import configure_logging

log = logging.getLogger("journeyline.serve")
READY = b"ready"
MAX_FDS = 16  # connections per message to a worker (SCM_RIGHTS allows up to 253)
RESTART_DELAY = 0.5  # seconds between a worker's death and its replacement: never a tight restart loop


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m shared.serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("app", help="the ASGI app, as uvicorn takes it (module:attribute)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--no-access-log", action="store_true")
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--loop", default="auto")
    parser.add_argument("--http", default="auto")
    parser.add_argument("--timeout-graceful-shutdown", type=int, default=None)
    parser.add_argument("--worker-fd", type=int, default=None, help=argparse.SUPPRESS)  # set by the parent
    return parser


def _options(args: argparse.Namespace) -> dict[str, object]:
    return {
        "access_log": not args.no_access_log,
        "log_level": args.log_level,
        "loop": args.loop,
        "http": args.http,
        "timeout_graceful_shutdown": args.timeout_graceful_shutdown,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.worker_fd is not None:
        channel = socket.socket(fileno=args.worker_fd)
        HandedServer(uvicorn.Config(args.app, **_options(args)), channel).run()  # type: ignore[arg-type]
        return 0
    if args.workers <= 1:
        uvicorn.run(args.app, host=args.host, port=args.port, **_options(args))  # type: ignore[arg-type]
        return 0
    configure_logging("serve", args.log_level)  # JSON lines, as the services write theirs
    worker_args = _without(list(sys.argv[1:] if argv is None else argv), "--workers", "--host", "--port")
    return Balancer(_listen(args.host, args.port), args.workers, worker_args).run()


def _without(argv: list[str], *options: str) -> list[str]:
    """`argv` without the given options and their values (`--opt value` or `--opt=value`)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in options:
            skip = True
        elif not any(arg.startswith(option + "=") for option in options):
            out.append(arg)
    return out


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # accepted connections inherit it (Linux)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class Worker:
    """One worker process and the parent's end of its socket pair."""

    def __init__(self, worker_args: list[str]) -> None:
        self.channel, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        cmd = [sys.executable, "-m", "shared.serve", *worker_args, "--worker-fd", str(theirs.fileno())]
        self.process = subprocess.Popen(cmd, pass_fds=(theirs.fileno(),))
        theirs.close()
        self.channel.setblocking(False)
        self.ready = False

    def hand(self, fds: list[int]) -> bool:
        """Pass the connections on; False if this worker cannot take them now (gone, or not reading)."""
        try:
            socket.send_fds(self.channel, [b"c"], fds)
            return True
        except OSError:  # BlockingIOError (its queue is full), BrokenPipeError (it is gone)
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def close(self) -> None:
        self.channel.close()


class Balancer:
    """The parent: accepts, hands connections to ready workers in turn, keeps `count` workers running."""

    def __init__(self, listener: socket.socket, count: int, worker_args: list[str]) -> None:
        self.listener, self.count, self.worker_args = listener, count, worker_args
        self.workers: list[Worker] = []
        self.selector = selectors.DefaultSelector()
        self.turn = 0
        self.stopping = False
        self.failed = False
        self.listening = False

    def run(self) -> int:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        host, port = self.listener.getsockname()[:2]
        log.info("serving on %s:%s with %d workers; each new connection goes to the next one", host, port, self.count)
        for _ in range(self.count):
            self._start_worker()
        try:
            while not self.stopping:
                for key, _ in self.selector.select(timeout=0.5):
                    if key.data is None:
                        self._accept()
                    else:
                        self._from_worker(key.data)
                self._supervise()
        finally:
            self._shutdown()
        return STARTUP_FAILURE if self.failed else 0

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.stopping = True

    def _start_worker(self) -> Worker:
        worker = Worker(self.worker_args)
        self.workers.append(worker)
        self.selector.register(worker.channel, selectors.EVENT_READ, worker)
        return worker

    def _from_worker(self, worker: Worker) -> None:
        try:
            message = worker.channel.recv(64)
        except BlockingIOError:
            return
        except OSError:
            message = b""
        if message == READY:
            worker.ready = True
        elif not message:  # it closed its end: it is stopping or gone
            worker.ready = False
            self.selector.unregister(worker.channel)
        self._listen_while_anyone_is_ready()

    def _listen_while_anyone_is_ready(self) -> None:
        """Accept only while a worker can take the connection; until then clients wait in the backlog."""
        anyone = any(w.ready for w in self.workers)
        if anyone and not self.listening:
            self.selector.register(self.listener, selectors.EVENT_READ, None)
        elif not anyone and self.listening:
            self.selector.unregister(self.listener)
        self.listening = anyone

    def _accept(self) -> None:
        """Everything waiting, in turn to the ready workers: one message per worker with its share of them."""
        ready = [w for w in self.workers if w.ready]
        shares: dict[Worker, list[int]] = {}
        for _ in range(MAX_FDS * len(ready)):
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                break
            except OSError:  # e.g. too many open files: leave the rest in the backlog for the next round
                break
            worker = ready[self.turn % len(ready)]
            self.turn += 1
            shares.setdefault(worker, []).append(conn.detach())  # closed below, once handed
        for worker, fds in shares.items():
            if not worker.hand(fds):  # gone or stuck: the next ready worker takes them
                if not any(other.hand(fds) for other in ready if other is not worker):
                    log.warning("no worker could take %d connection(s); they are closed", len(fds))
            for fd in fds:  # each worker that took them has its own copy
                os.close(fd)

    def _supervise(self) -> None:
        for index, worker in enumerate(self.workers):
            code = worker.process.poll()
            if code is None or self.stopping:
                continue
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(worker.channel)
            worker.close()
            if code == STARTUP_FAILURE and not worker.ready:
                extra = {"pid": worker.process.pid, "exit_code": code}
                log.error("a worker could not start: stopping", extra=extra)
                self.failed, self.stopping = True, True
                return
            log.warning("a worker exited; starting another", extra={"pid": worker.process.pid, "exit_code": code})
            time.sleep(RESTART_DELAY)
            replacement = Worker(self.worker_args)
            self.workers[index] = replacement
            self.selector.register(replacement.channel, selectors.EVENT_READ, replacement)
        self._listen_while_anyone_is_ready()

    def _shutdown(self, timeout: float = 30.0) -> None:
        """No new connections; each worker finishes what it is serving (uvicorn's graceful shutdown)."""
        self.listener.close()
        for worker in self.workers:
            worker.stop()
        deadline = time.monotonic() + timeout
        for worker in self.workers:
            try:
                worker.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait(5)
            worker.close()


class HandedServer(uvicorn.Server):
    """A uvicorn server with no listening socket: it serves the connections its parent hands it over `channel`."""

    def __init__(self, config: uvicorn.Config, channel: socket.socket) -> None:
        super().__init__(config)
        self.channel = channel
        self.pending: set[asyncio.Task[object]] = set()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])
        if not self.started:
            return
        self.channel.setblocking(False)
        asyncio.get_running_loop().add_reader(self.channel.fileno(), self._receive)
        self.channel.send(READY)

    def _protocol(self) -> asyncio.Protocol:
        config = self.config
        return config.http_protocol_class(  # type: ignore[call-arg]
            config=config, server_state=self.server_state, app_state=self.lifespan.state
        )

    def _receive(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                message, fds, _, _ = socket.recv_fds(self.channel, 16, MAX_FDS)
            except BlockingIOError:
                return
            except OSError:
                message, fds = b"", []
            if not message and not fds:  # the parent is gone: stop as on a signal
                loop.remove_reader(self.channel.fileno())
                self.should_exit = True
                return
            for fd in fds:
                conn = socket.socket(fileno=fd)  # TCP_NODELAY as the listening socket
                conn.setblocking(False)
                task = loop.create_task(loop.connect_accepted_socket(self._protocol, conn))
                self.pending.add(task)
                task.add_done_callback(self._connected)

    def _connected(self, task: asyncio.Task[object]) -> None:
        self.pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("could not serve a handed connection: %s", task.exception())

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        with contextlib.suppress(OSError, ValueError):
            asyncio.get_running_loop().remove_reader(self.channel.fileno())
        self.channel.close()  # the parent sees it stop taking connections
        await super().shutdown(sockets=[])


if __name__ == "__main__":
    sys.exit(main())
