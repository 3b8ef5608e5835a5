# SPDX-License-Identifier: GPL-2.0-or-later
"""The NBD servers a benchmark compares, each started in a private 0700
directory on a Unix socket, all with exports of the same size.

A server configuration is data (name, command, environment, how to tell it
is ready), so that a new one (the cuda backend on the fake libcuda, a tuned
variant) is one more entry, not new code.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DAEMON = os.environ.get("VS_DAEMON", os.path.join(ROOT, "build", "vram-swapd"))
# Where the fake libcuda (libcuda.so.1) is built; see tests/fakecuda/.
FAKECUDA_DIR = os.environ.get("VS_FAKECUDA_DIR", os.path.join(ROOT, "build", "fakecuda"))


def _vs_cmd(backend):
    def cmd(sock, status, size):
        # 16 slots: nbdraw's 8-connection rows plus a spare.
        return [DAEMON, "--backend", backend, "--size", str(size), "--min-size", "4M",
                "--socket", sock, "--status-file", status, "--max-clients", "16"]
    return cmd


def _nbdkit_cmd(sock, status, size):
    # --exit-with-parent: a harness that dies takes its servers with it.
    return ["nbdkit", "-f", "--exit-with-parent", "-U", sock, "memory", "size=%d" % size]


def _fake_cuda_missing():
    lib = os.path.join(FAKECUDA_DIR, "libcuda.so.1")
    return None if os.path.exists(lib) else "no fake libcuda at " + lib


CONFIGS = {
    "vs-host": {
        "label": "vram-swapd host",
        "cmd": _vs_cmd("host"),
        "env": {},
        "ours": True,
        "missing": lambda: None if os.access(DAEMON, os.X_OK) else "no daemon at " + DAEMON,
    },
    "vs-cudafake": {
        "label": "vram-swapd cuda (fake libcuda)",
        "cmd": _vs_cmd("cuda"),
        # The fake's "VRAM" (default 1 GiB) must hold the export plus the
        # daemon's own device buffers, or the daemon backs off to less.
        "env": {"LD_LIBRARY_PATH": FAKECUDA_DIR, "FAKECUDA_MEM": str(64 << 30)},
        "ours": True,
        "missing": _fake_cuda_missing,
    },
    "nbdkit": {
        "label": "nbdkit memory",
        "cmd": _nbdkit_cmd,
        "env": {},
        "ours": False,
        "missing": lambda: None if shutil.which("nbdkit") else "nbdkit not installed",
    },
}
BASELINE = "nbdkit"

# A/B measurements of a daemon change: VS_BENCH_BASE names another build
# of vram-swapd (e.g. the commit before the change), measured as one more
# server, alternating with the others: --servers vs-base,vs-host,nbdkit.
BASE_DAEMON = os.environ.get("VS_BENCH_BASE", "")
CONFIGS["vs-base"] = {
    "label": "vram-swapd host (VS_BENCH_BASE)",
    "cmd": lambda sock, status, size: [BASE_DAEMON] + _vs_cmd("host")(sock, status, size)[1:],
    "env": {},
    "ours": True,
    "missing": lambda: None if BASE_DAEMON and os.access(BASE_DAEMON, os.X_OK)
    else "VS_BENCH_BASE does not name a daemon",
}


class Server:
    def __init__(self, name, size):
        cfg = CONFIGS[name]
        self.name, self.cfg, self.size = name, cfg, size
        # Under build/ rather than /tmp, out of reach of anything that
        # sweeps /tmp while a long run is going (a socket vanished so once);
        # /tmp where the path would be too long for a socket address.
        parent = os.path.join(ROOT, "build", "bench-sockets")
        if len(parent) > 80:
            parent = None
        else:
            os.makedirs(parent, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix="vs-bench-", dir=parent)
        os.chmod(self.dir, 0o700)
        self.sock = os.path.join(self.dir, "sock")
        self.status = os.path.join(self.dir, "status")
        self.log = os.path.join(self.dir, "log")
        env = dict(os.environ)
        env.update(cfg["env"])
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen(cfg["cmd"](self.sock, self.status, size),
                                     stdout=self.logf, stderr=subprocess.STDOUT, env=env)
        self._wait_ready()

    @property
    def uri(self):
        return "nbd+unix:///?socket=" + self.sock

    def logtext(self):
        self.logf.flush()
        with open(self.log) as f:
            return f.read()

    def _wait_ready(self, timeout=60):
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited %d:\n%s" % (self.name, self.proc.returncode, self.logtext()))
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(self.sock)
                s.close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("%s not ready after %ds:\n%s" % (self.name, timeout, self.logtext()))

    def status_dict(self):
        """The daemon's status file (vram-swapd only), or {}."""
        try:
            with open(self.status) as f:
                return dict(l.split("=", 1) for l in f.read().splitlines() if "=" in l)
        except OSError:
            return {}

    def used_bytes(self, want, timeout=3.0):
        """vram-swapd's used_bytes once it reaches want (the status file is
        rewritten about once a second); None for servers without one."""
        if not self.cfg["ours"]:
            return None
        end = time.time() + timeout
        used = 0
        while time.time() < end:
            used = int(self.status_dict().get("used_bytes", 0))
            if used >= want:
                break
            time.sleep(0.1)
        return used

    def trouble(self):
        """Why a load failed, if it is the server's fault; else None."""
        if self.proc.poll() is not None:
            return "exited %d:\n%s" % (self.proc.returncode, self.logtext()[-2000:])
        if not os.path.exists(self.sock):
            return "its socket %s is gone" % self.sock
        return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()
        shutil.rmtree(self.dir, ignore_errors=True)
