# SPDX-License-Identifier: GPL-2.0-or-later
"""Starts and stops a real vram-swapd for the conformance tests.

Environment:
  VS_DAEMON        path to the daemon (default build/vram-swapd)
  VS_TEST_BACKEND  backend to test (default host); the cuda tests set it to
                   cuda with LD_LIBRARY_PATH pointing at the fake libcuda
  VS_TEST_ARGS     extra daemon arguments (split on spaces)
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DAEMON = os.environ.get("VS_DAEMON", os.path.join(ROOT, "build", "vram-swapd"))
BACKEND = os.environ.get("VS_TEST_BACKEND", "host")
EXTRA = os.environ.get("VS_TEST_ARGS", "").split()


class Daemon:
    """One daemon in a private 0700 directory."""

    def __init__(self, size="64M", args=(), env=None, wait=True):
        self.dir = tempfile.mkdtemp(prefix="vs-test-")
        os.chmod(self.dir, 0o700)
        self.sock = os.path.join(self.dir, "s")
        self.status = os.path.join(self.dir, "status")
        self.log = os.path.join(self.dir, "log")
        cmd = [DAEMON, "--backend", BACKEND, "--size", size, "--min-size", "4M",
               "--socket", self.sock, "--status-file", self.status] + EXTRA + list(args)
        e = dict(os.environ)
        e.update(env or {})
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=subprocess.STDOUT, env=e)
        if wait:
            self.wait_ready()

    @property
    def uri(self):
        return "nbd+unix:///?socket=" + self.sock

    def wait_ready(self, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("daemon exited %d:\n%s" % (self.proc.returncode, self.logtext()))
            try:
                with open(self.status) as f:
                    if "state=serving" in f.read():
                        return
            except FileNotFoundError:
                pass
            time.sleep(0.02)
        raise RuntimeError("daemon not ready:\n" + self.logtext())

    def logtext(self):
        self.logf.flush()
        with open(self.log) as f:
            return f.read()

    def wait_log(self, text, timeout=10):
        """The log is written by the daemon's logger thread, a moment after
        the event: wait for the line rather than race it."""
        end = time.time() + timeout
        while time.time() < end:
            log = self.logtext()
            if text in log:
                return log
            time.sleep(0.05)
        raise AssertionError("%r not in the daemon's log:\n%s" % (text, self.logtext()))

    def status_dict(self):
        with open(self.status) as f:
            return dict(line.split("=", 1) for line in f.read().splitlines())

    def raw(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(self.sock)
        return s

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        log = self.logtext()
        self.logf.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        # A sanitizer build reports here; the test that stopped it fails.
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            if marker in log:
                raise AssertionError("sanitizer report from vram-swapd:\n" + log)
        return self.proc.returncode


class DaemonCase(unittest.TestCase):
    """Tests that share one daemon per class, of DAEMON_SIZE bytes."""
    DAEMON_SIZE = "64M"
    DAEMON_ARGS = ()

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(size=cls.DAEMON_SIZE, args=cls.DAEMON_ARGS)

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
