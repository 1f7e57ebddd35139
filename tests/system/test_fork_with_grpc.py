"""A process with gRPC live spawns terminal children reliably (tests/conftest.py says why).

``test_watch_in_a_terminal_updates_when_calls_are_pushed`` once failed under load: the
`teamcost watch` child "exited" with gRPC's "epoll_wait error: Bad file descriptor" on its
terminal. It never ran: the test process had pushed through gRPC, then forked the child
with a pty (pexpect); gRPC's fork handler restarted its poller thread in the forked child,
which closed every inherited descriptor before exec, and the poller woke on a closed epoll
descriptor and aborted the child (SIGABRT). With gRPC's fork support off for the test
process, 0 of 800 such spawns failed here (3 runs, the machine loaded); with it on (grpcio's
default), 11 of 800 did: at that rate this test fails about 9 times in 10 without it.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading

import pytest

SPAWNS = 200


def test_pty_children_of_a_process_with_live_grpc_all_exec() -> None:
    pexpect = pytest.importorskip("pexpect")
    import grpc

    assert os.environ.get("GRPC_ENABLE_FORK_SUPPORT") == "false"   # set by tests/conftest.py
    server = socket.create_server(("127.0.0.1", 0))     # accepts, never answers
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    channel = grpc.insecure_channel(f"127.0.0.1:{server.getsockname()[1]}")
    try:
        with pytest.raises(grpc.RpcError):   # a real RPC: gRPC's poller and threads run
            channel.unary_unary("/teamcost.Test/Nothing")(b"", timeout=0.3)
        echo = shutil.which("echo") or "/bin/echo"
        failed = []
        for i in range(SPAWNS):
            child = pexpect.spawn(echo, [f"child-{i}"], encoding="utf-8", timeout=30)
            out = child.read()
            child.close()
            if child.exitstatus != 0 or f"child-{i}" not in out:
                failed.append((i, child.exitstatus, child.signalstatus, out[:200]))
        assert failed == []
    finally:
        channel.close()
        server.close()
        for conn in accepted:
            conn.close()
