# SPDX-License-Identifier: GPL-2.0-or-later
"""In-place restarts on a real GPU: vram-swapd --backend cuda under
vram-swap-holder, 1 GiB of chunk 0 written with a pattern, then N times
`--ctl handover` while a client writes to chunk 1; after each, the time
until the next daemon serves, and every byte of chunk 0 and of what was
written to chunk 1 read back and compared.

    python3 tests/cuda/handover-gpu.py [N]     (from the source tree, after make;
                                                VS_BACKEND=host VS_SIZE=2G without a GPU)
"""
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "nbd"))
import rawnbd  # noqa: E402

MiB = 1 << 20
BUILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
DAEMON, HOLDER = os.path.join(BUILD, "vram-swapd"), os.path.join(BUILD, "vram-swap-holder")


def status(path):
    try:
        with open(path) as f:
            return dict(line.split("=", 1) for line in f.read().splitlines() if "=" in line)
    except FileNotFoundError:
        return {}


def block(seed, i):
    """1 MiB that differs per seed and per block."""
    head = struct.pack("<QQ", seed, i)
    return (head + bytes((seed * 31 + i * 7 + k) & 0xFF for k in range(240))) * (MiB // 256)


class Client:
    def __init__(self, sock, export):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sock)
        self.r = rawnbd.Raw(s)
        self.r.greeting()
        self.r.go(export.encode())
        self.cookie = 0

    def _do(self, cmd, off, length, payload=b""):
        self.cookie += 1
        self.r.request(cmd, off, length, cookie=self.cookie, payload=payload)
        err, cookie, data = self.r.reply(length if cmd == rawnbd.CMD_READ else 0)
        if err or cookie != self.cookie:
            raise IOError("nbd error %d on cmd %d at %d" % (err, cmd, off))
        return data

    def write(self, off, data):
        self._do(rawnbd.CMD_WRITE, off, len(data), data)

    def read(self, off, n):
        return self._do(rawnbd.CMD_READ, off, n)

    def flush(self):
        self._do(rawnbd.CMD_FLUSH, 0, 0)


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    d = tempfile.mkdtemp(prefix="vs-gpu-ho-")
    os.chmod(d, 0o700)
    sock, st, log = os.path.join(d, "s"), os.path.join(d, "status"), os.path.join(d, "log")
    args = [HOLDER, "--", DAEMON, "--backend", os.environ.get("VS_BACKEND", "cuda"),
            "--size", os.environ.get("VS_SIZE", "8G"), "--chunk", "1G",
            "--socket", sock, "--status-file", st, "--auto", "off"]
    with open(log, "w") as lf:
        holder = subprocess.Popen(args, stdout=lf, stderr=subprocess.STDOUT)

    def serving(other=None, limit=60):
        end = time.time() + limit
        while time.time() < end:
            s = status(st)
            if s.get("state") == "serving" and s.get("pid") != other:
                return s
            time.sleep(0.005)
        raise SystemExit("no daemon serving:\n" + open(log).read())

    s = serving()
    print("crash_safe=%s %s" % (s.get("crash_safe"), s.get("crash_safe_why", "")))
    c = Client(sock, "vram-swap.0")
    for i in range(1024):
        c.write(i * MiB, block(1, i))
    c.flush()
    written = {}
    bad = 0
    for n in range(1, rounds + 1):
        stop = threading.Event()

        def burst():
            w = Client(sock, "vram-swap.1")
            i = 0
            try:
                while not stop.is_set():
                    off = ((n * 97 + i) % 1024) * MiB
                    data = block(100 + n, i)
                    w.write(off, data)
                    written[off] = data   # answered: it must be there after
                    i += 1
            except (IOError, rawnbd.Closed, OSError):
                pass

        t = threading.Thread(target=burst)
        t.start()
        time.sleep(0.2)
        old = s["pid"]
        t0 = time.time()
        r = subprocess.run([DAEMON, "--socket", sock, "--ctl", "handover"], capture_output=True,
                           text=True)
        t1 = time.time()
        s = serving(other=old)
        t2 = time.time()
        stop.set()
        t.join()
        c = Client(sock, "vram-swap.0")
        for i in range(1024):
            if c.read(i * MiB, MiB) != block(1, i):
                bad += 1
        w = Client(sock, "vram-swap.1")
        for off, data in written.items():
            if w.read(off, MiB) != data:
                bad += 1
        print("handover %d: ctl exit %d in %.0f ms; pid %s -> %s serving %.0f ms after the "
              "request; 1 GiB of chunk 0 and %d MiB written to chunk 1 during it read back, "
              "%d bad" % (n, r.returncode, (t1 - t0) * 1e3, old, s["pid"], (t2 - t0) * 1e3,
                          len(written), bad))
    print("\n".join(line for line in open(log).read().splitlines()
                    if "handed" in line or "handing" in line)[-2000:])
    # A daemon with clients drains: they leave first.
    c.r.s.close()
    w.r.s.close()
    holder.terminate()
    print("holder exit %d" % holder.wait(timeout=60))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
