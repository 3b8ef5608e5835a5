# SPDX-License-Identifier: GPL-2.0-or-later
"""Connection slots under half-open connections: more connections than
--max-clients that read the greeting and then say nothing, each made again
as soon as the daemon drops it, must not keep a real client out, nor leave
the daemon holding more threads or locked memory once they are gone.
Run: /usr/bin/python3 -m unittest -v tests/nbd/test_slots.py"""
import errno
import os
import selectors
import signal
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nbd  # noqa: E402
from daemon import Daemon  # noqa: E402

MiB = 1 << 20
# A real client must get in within this long, every time. Generous: it
# waits behind the half-open connections queued before it, each dropped
# once it has been silent for a quarter of a second, sixteen at a time.
GET_IN_S = 15


class HalfOpen(threading.Thread):
    """n connections that read whatever the daemon sends (the greeting) and
    never say a word; one the daemon drops is made again at once."""

    def __init__(self, path, n):
        super().__init__(daemon=True)
        self.path, self.n = path, n
        self.halt = threading.Event()
        self.made = self.dropped = 0
        self.socks = set()

    def make(self, sel):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(self.path)
        except OSError as e:
            s.close()
            # A full listen queue, or a daemon that stopped listening.
            if e.errno not in (errno.EAGAIN, errno.ECONNREFUSED, errno.ENOENT):
                raise
            return False
        sel.register(s, selectors.EVENT_READ)
        self.socks.add(s)
        self.made += 1
        return True

    def run(self):
        sel = selectors.DefaultSelector()
        missing = self.n
        while not self.halt.is_set():
            while missing and self.make(sel):
                missing -= 1
            for key, _ in sel.select(0.01):
                s = key.fileobj
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(s)
                    self.socks.discard(s)
                    s.close()
                    self.dropped += 1
                    missing += 1
        for s in list(self.socks):
            sel.unregister(s)
            s.close()
        self.socks.clear()

    def stop(self):
        self.halt.set()
        self.join(10)


def proc_status(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(line.split(":", 1) for line in f.read().splitlines())


def threads(pid):
    return len(os.listdir("/proc/%d/task" % pid))


def locked_kib(pid):
    return int(proc_status(pid)["VmLck"].split()[0])


def real_client(sock, offset, data):
    """Connects with libnbd, writes and reads back a page, disconnects; a
    thread so that a client that never gets in fails the test, not hangs
    it. Returns the seconds it took, or raises."""
    out = {}

    def go():
        try:
            h = nbd.NBD()
            h.connect_unix(sock)
            h.pwrite(data, offset)
            out["data"] = h.pread(len(data), offset)
            h.shutdown()
        except nbd.Error as e:
            out["error"] = str(e)

    t0 = time.monotonic()
    t = threading.Thread(target=go, daemon=True)
    t.start()
    t.join(GET_IN_S)
    took = time.monotonic() - t0
    if t.is_alive():
        raise AssertionError("a real client did not get in within %d s" % GET_IN_S)
    if "error" in out:
        raise AssertionError("a real client was refused after %.1f s: %s"
                             % (took, out["error"]))
    if out["data"] != data:
        raise AssertionError("a real client read back other bytes")
    return took


class HalfOpenBurst(unittest.TestCase):

    def burst(self, d, n, clients):
        """Runs n half-open connections while `clients` real clients come
        one after another; each must get in."""
        hostile = HalfOpen(d.sock, n)
        hostile.start()
        try:
            # Every one of them connected and was sent its greeting.
            end = time.monotonic() + 20
            while hostile.made < n and time.monotonic() < end:
                time.sleep(0.05)
            self.assertGreaterEqual(hostile.made, n)
            took = []
            for i in range(clients):
                data = bytes([i + 1]) * 4096
                took.append(real_client(d.sock, 2 * MiB + i * 4096, data))
            self.assertGreater(hostile.dropped, 0, "the burst never reached the limit")
            return took, hostile
        finally:
            hostile.stop()

    def settle(self, d):
        """Waits until the daemon has let every connection go."""
        end = time.monotonic() + 20
        while time.monotonic() < end:
            if d.status_dict().get("clients") == "0":
                return
            time.sleep(0.1)
        self.fail("connections still held: " + d.status_dict().get("clients"))

    def test_default_slots_real_client_gets_in_and_nothing_stays(self):
        """With the default 64 slots, 80 half-open connections: a real client
        gets in every time, and after the burst the daemon holds the threads
        and locked memory it held before it (no slot was made for them)."""
        d = Daemon(size="64M")
        try:
            real_client(d.sock, 0, b"\0" * 4096)   # warm: one slot used once
            self.settle(d)
            pid = d.proc.pid
            # The control thread's first sample (a second after start)
            # gives it a malloc arena: wait until nothing grows on its own.
            lck_before = -1
            while lck_before != locked_kib(pid):
                lck_before = locked_kib(pid)
                time.sleep(1.5)
            t_before = threads(pid)
            took, hostile = self.burst(d, 80, 10)
            self.settle(d)
            time.sleep(0.5)
            t_after, lck_after = threads(pid), locked_kib(pid)
            self.assertEqual(t_after, t_before, "threads before and after the burst")
            if os.geteuid() == 0:
                # Locked memory only exists where mlockall() was applied
                # (root, not under ASan). One slot holds over 4 MiB of
                # staging buffers; what may grow is heap bookkeeping.
                self.assertLess(lck_after - lck_before, 1024,
                                "VmLck grew from %d to %d KiB" % (lck_before, lck_after))
            sys.stderr.write("[80 half-open: real client in after %.2f s at most "
                             "(%d connections made, %d dropped); threads %d -> %d, "
                             "VmLck %d -> %d KiB] " % (max(took), hostile.made,
                                                       hostile.dropped, t_before, t_after,
                                                       lck_before, lck_after))
        finally:
            d.stop()

    def test_serving_client_unharmed_and_others_get_in_at_two_slots(self):
        """--max-clients 2: one client holds a slot; 20 half-open connections
        cannot take the other from a real client, and the first client is
        served throughout."""
        d = Daemon(size="16M", args=["--max-clients", "2"])
        try:
            h = nbd.NBD()
            h.connect_unix(d.sock)
            h.pwrite(b"\x55" * MiB, 0)
            took, _ = self.burst(d, 20, 5)
            self.assertEqual(h.pread(MiB, 0), b"\x55" * MiB)
            h.shutdown()
        finally:
            d.stop()

    def test_stop_during_burst_exits_within_the_handshake_limit(self):
        """SIGTERM while half-open connections keep coming: the daemon stops
        listening, drops what is still negotiating within the 10 s limit,
        and exits 0."""
        d = Daemon(size="16M")
        hostile = HalfOpen(d.sock, 40)
        hostile.start()
        try:
            end = time.monotonic() + 20
            while hostile.made < 40 and time.monotonic() < end:
                time.sleep(0.05)
            t = time.monotonic()
            d.proc.send_signal(signal.SIGTERM)
            self.assertEqual(d.proc.wait(20), 0)
            self.assertLess(time.monotonic() - t, 16)
        finally:
            hostile.stop()
            d.stop()


if __name__ == "__main__":
    unittest.main()
