# SPDX-License-Identifier: GPL-2.0-or-later
"""Protocol edges a hostile or stalled client reaches: no client may stall
another, hold a slot through a slow handshake, keep a stopping daemon
alive, or make the server wait for a payload it will never get.
Run: /usr/bin/python3 -m unittest -v tests/nbd/test_edges.py"""
import os
import signal
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Daemon, DaemonCase  # noqa: E402
from rawnbd import *  # noqa: E402,F401,F403

MiB = 1 << 20


class Edges(DaemonCase):

    def conn(self, rcvbuf=None):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(30)
        s.connect(self.d.sock)
        r = Raw(s)
        r.handshake()
        self.addCleanup(s.close)
        return r

    def test_stalled_reader_does_not_block_others(self):
        """A client that stops reading a large reply holds up nobody else."""
        stalled = self.conn(rcvbuf=4096)
        stalled.request(CMD_READ, 0, 3 * MiB, cookie=1)
        time.sleep(0.5)   # its worker is now blocked sending to it
        other = self.conn()
        other.s.settimeout(5)
        t = time.monotonic()
        other.request(CMD_READ, 4 * MiB, 4 * MiB, cookie=2)
        err, cookie, data = other.reply(4 * MiB)
        self.assertEqual((err, cookie, len(data)), (0, 2, 4 * MiB))
        self.assertLess(time.monotonic() - t, 3)
        # The stalled client still gets its whole answer once it reads.
        stalled.s.settimeout(10)
        err, cookie, data = stalled.reply(3 * MiB)
        self.assertEqual((err, cookie, len(data)), (0, 1, 3 * MiB))

    def test_absurd_write_length_closes_at_once(self):
        """A WRITE header claiming 4 GiB with no payload: hang up rather than
        wait for bytes that never come."""
        r = self.conn()
        r.s.settimeout(5)
        r.request(CMD_WRITE, 0, 0xFFFFFFFF, cookie=1)
        t = time.monotonic()
        self.assertTrue(r.is_closed())
        self.assertLess(time.monotonic() - t, 3)
        self.d.wait_log("far over the")

    def test_drainable_write_keeps_the_stream(self):
        """Just over the maximum: refused with EINVAL, payload drained."""
        r = self.conn()
        n = (32 << 20) + 8192
        r.request(CMD_WRITE, 0, n, cookie=1, payload=b"\x11" * n)
        r.request(CMD_READ, 0, 4096, cookie=2)
        self.assertEqual(r.reply()[:2], (22, 1))
        err, cookie, data = r.reply(4096)
        self.assertEqual((err, cookie), (0, 2))
        self.assertNotEqual(data, b"\x11" * 4096)


class SlowHandshake(unittest.TestCase):

    def test_trickling_client_is_dropped_and_does_not_hold_a_stop(self):
        """One byte every 3 s never finishes the handshake in time: the
        daemon drops the client within its limit for the whole negotiation
        and, told to stop, exits instead of waiting for it."""
        d = Daemon(size="16M")
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(1)
            s.connect(d.sock)
            self.addCleanup(s.close)
            s.recv(18)                        # the greeting
            d.proc.send_signal(signal.SIGTERM)
            t = time.monotonic()
            hello = b"\x00\x00\x00\x03" + b"IHAVEOPT" + b"\x00" * 8
            for b in hello:
                try:
                    s.sendall(bytes([b]))
                except OSError:
                    break
                try:
                    if s.recv(1) == b"":
                        break
                except socket.timeout:
                    pass
                if d.proc.poll() is not None:
                    break
                time.sleep(3)
                if time.monotonic() - t > 20:
                    break
            d.proc.wait(5)
            self.assertLess(time.monotonic() - t, 16)
            self.assertEqual(d.proc.returncode, 0)
        finally:
            d.stop()


if __name__ == "__main__":
    unittest.main()
