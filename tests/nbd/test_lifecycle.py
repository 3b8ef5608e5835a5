# SPDX-License-Identifier: GPL-2.0-or-later
"""vram-swapd's life: settings, the socket's safety, readiness, drain on
SIGTERM. Run: /usr/bin/python3 -m unittest -v tests/nbd/test_lifecycle.py"""
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nbd  # noqa: E402
from daemon import BACKEND, DAEMON, Daemon  # noqa: E402
from rawnbd import (CMD_DISC, CMD_READ, CMD_WRITE, ERR_POLICY, OPT_LIST, REP_ACK,  # noqa: E402
                    REP_SERVER, Raw)


def run(args, env=None, timeout=20):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([DAEMON] + args, capture_output=True, text=True, env=e,
                          timeout=timeout)


class Settings(unittest.TestCase):
    def test_help_and_version(self):
        out = run(["--help"])
        self.assertEqual(out.returncode, 0)
        self.assertIn("--backend", out.stdout)
        self.assertIn("VRAM_SWAP_SIZE", out.stdout)
        out = run(["--version"])
        self.assertEqual(out.returncode, 0)
        with open(os.path.join(os.path.dirname(DAEMON), "..", "VERSION")) as f:
            self.assertEqual(out.stdout.strip(), "vram-swapd " + f.read().strip())

    def test_compression_without_its_library_says_what_to_install(self):
        # A directory first on the library path holds what the loader finds
        # instead: a file that is no library, or a library without the
        # functions. The daemon starts nothing and names the package.
        for alg, lib, pkg, fn in (("lz4", "liblz4.so.1", "liblz4-1", "LZ4_sizeofState"),
                                  ("zstd", "libzstd.so.1", "libzstd1", "ZSTD_createCCtx")):
            d = tempfile.mkdtemp(prefix="vs-nolib-")
            with open(os.path.join(d, "none.c"), "w") as f:
                f.write("int nothing;\n")
            for kind, want in (("empty", "cannot load %s for compression with %s" % (lib, alg)),
                               ("other", "%s lacks %s" % (lib, fn))):
                path = os.path.join(d, lib)
                if kind == "empty":
                    open(path, "w").close()
                else:
                    subprocess.run(["cc", "-shared", "-fPIC", "-o", path,
                                    os.path.join(d, "none.c")], check=True)
                r = subprocess.run(
                    [DAEMON, "--backend", "host", "--size", "8M", "--min-size", "4M",
                     "--compress", alg, "--socket", d + "/s", "--status-file", ""],
                    capture_output=True, text=True, timeout=20,
                    env=dict(os.environ, LD_LIBRARY_PATH=d))
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertIn(want, r.stderr)
                self.assertIn("install " + pkg, r.stderr)
                self.assertFalse(os.path.exists(d + "/s"), "nothing may listen")

    def test_bad_values_exit_2_naming_setting_and_value(self):
        cases = [
            (["--size", "12Q"], {}, "invalid --size '12Q'"),
            (["--size", "1000"], {}, "invalid --size '1000': must be a multiple of 4096"),
            (["--size", "0"], {}, "invalid --size '0'"),
            (["--size", "150%"], {}, "invalid --size '150%'"),
            (["--min-size", "10%"], {}, "invalid --min-size '10%'"),
            (["--step", "-1"], {}, "invalid --step '-1'"),
            (["--backend", "opencl"], {}, "invalid --backend 'opencl'"),
            (["--max-clients", "0"], {}, "invalid --max-clients '0'"),
            (["--max-clients", "9x"], {}, "invalid --max-clients '9x'"),
            (["--socket", "relative/s"], {}, "invalid --socket 'relative/s'"),
            (["--socket", "/" + "x" * 120], {}, "invalid --socket"),
            ([], {"VRAM_SWAP_SIZE": "lots"}, "invalid VRAM_SWAP_SIZE 'lots'"),
            ([], {"VRAM_SWAP_BACKEND": "tpu"}, "invalid VRAM_SWAP_BACKEND 'tpu'"),
            ([], {"VRAM_SWAP_MAX_CLIENTS": "100"}, "invalid VRAM_SWAP_MAX_CLIENTS '100'"),
            (["--bogus"], {}, "--help"),
            (["extra"], {}, "unexpected argument 'extra'"),
        ]
        for args, env, msg in cases:
            out = run(args, env)
            self.assertEqual(out.returncode, 2, (args, env, out.stderr))
            self.assertIn(msg, out.stderr, (args, env))

    def test_flag_wins_over_environment(self):
        d = Daemon(args=["--size", "8M"], env={"VRAM_SWAP_SIZE": "lots"}, wait=False)
        # the bad environment value is reported even though a flag follows:
        # bad input is never silently ignored
        d.proc.wait(10)
        self.assertEqual(d.proc.returncode, 2)
        d.stop()
        d = Daemon(size="8M", env={"VRAM_SWAP_SIZE": "16M"})
        try:
            self.assertEqual(int(d.status_dict()["size_bytes"]), 8 << 20)
        finally:
            d.stop()

    def test_environment_configures(self):
        with tempfile.TemporaryDirectory() as t:
            os.chmod(t, 0o700)
            sock = os.path.join(t, "env.sock")
            env = dict(os.environ, VRAM_SWAP_BACKEND=BACKEND, VRAM_SWAP_SIZE="12M",
                       VRAM_SWAP_MIN_SIZE="4M", VRAM_SWAP_SOCKET=sock,
                       VRAM_SWAP_EXPORT="other", VRAM_SWAP_STATUS_FILE="")
            p = subprocess.Popen([DAEMON], env=env, stderr=subprocess.DEVNULL)
            try:
                deadline = time.time() + 20
                while not os.path.exists(sock) and time.time() < deadline:
                    time.sleep(0.05)
                h = nbd.NBD()
                h.set_export_name("other")
                h.connect_unix(sock)
                self.assertEqual(h.get_size(), 12 << 20)
                h.shutdown()
                self.assertFalse(os.path.exists(os.path.join(t, "status")))
            finally:
                p.terminate()
                p.wait(10)
            self.assertEqual(p.returncode, 0)


class SocketSafety(unittest.TestCase):
    def daemon_in(self, path):
        return run(["--backend", BACKEND, "--size", "8M", "--min-size", "4M",
                    "--socket", path, "--status-file", ""], timeout=20)

    def test_open_directory_refused(self):
        with tempfile.TemporaryDirectory() as t:
            os.chmod(t, 0o755)
            out = self.daemon_in(os.path.join(t, "s"))
            self.assertEqual(out.returncode, 1)
            self.assertIn("must belong to uid", out.stderr)
            self.assertIn("mode 755", out.stderr)

    def test_missing_directory_created_0700(self):
        with tempfile.TemporaryDirectory() as t:
            d = os.path.join(t, "run")
            p = subprocess.Popen([DAEMON, "--backend", BACKEND, "--size", "8M", "--min-size", "4M",
                                  "--socket", d + "/s", "--status-file", ""],
                                 stderr=subprocess.DEVNULL)
            try:
                deadline = time.time() + 20
                while not os.path.exists(d + "/s") and time.time() < deadline:
                    time.sleep(0.05)
                self.assertEqual(stat.S_IMODE(os.stat(d).st_mode), 0o700)
                self.assertEqual(stat.S_IMODE(os.stat(d + "/s").st_mode), 0o600)
            finally:
                p.terminate()
                p.wait(10)

    def test_non_socket_never_removed(self):
        with tempfile.TemporaryDirectory() as t:
            os.chmod(t, 0o700)
            path = os.path.join(t, "s")
            with open(path, "w") as f:
                f.write("precious")
            out = self.daemon_in(path)
            self.assertEqual(out.returncode, 1)
            self.assertIn("is not a socket; not replacing it", out.stderr)
            with open(path) as f:
                self.assertEqual(f.read(), "precious")

    def test_stale_socket_replaced(self):
        with tempfile.TemporaryDirectory() as t:
            os.chmod(t, 0o700)
            path = os.path.join(t, "s")
            s = socket.socket(socket.AF_UNIX)
            s.bind(path)
            s.close()   # a socket file nobody listens on: a crashed daemon's
            p = subprocess.Popen([DAEMON, "--backend", BACKEND, "--size", "8M", "--min-size", "4M",
                                  "--socket", path, "--status-file", ""],
                                 stderr=subprocess.PIPE, text=True)
            try:
                deadline = time.time() + 20
                while True:
                    try:
                        h = nbd.NBD()
                        h.connect_unix(path)
                        break
                    except nbd.Error:
                        if time.time() > deadline:
                            raise
                        time.sleep(0.05)
                self.assertEqual(h.get_size(), 8 << 20)
                h.shutdown()
            finally:
                p.terminate()
                _, err = p.communicate(timeout=10)
            self.assertIn("replaced stale socket", err)

    def test_second_daemon_refused(self):
        d = Daemon(size="8M")
        try:
            out = self.daemon_in(d.sock)
            self.assertEqual(out.returncode, 1)
            self.assertIn("another vram-swapd is already serving", out.stderr)
            self.assertIsNone(d.proc.poll())
        finally:
            d.stop()

    @unittest.skipUnless(os.geteuid() == 0, "needs root to connect as another uid")
    def test_other_uid_refused(self):
        d = Daemon(size="8M")
        try:
            os.chmod(d.dir, 0o711)   # let uid 65534 reach the socket at all
            os.chmod(d.sock, 0o666)
            code = ("import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]);"
                    "s.settimeout(10); d=s.recv(100); sys.exit(0 if d==b'' else 3)")
            out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                  "/usr/bin/python3", "-c", code, d.sock],
                                 capture_output=True, text=True, timeout=20)
            self.assertEqual(out.returncode, 0, out.stderr)
            d.wait_log("refused a client with uid 65534")
        finally:
            d.stop()


class Lifecycle(unittest.TestCase):
    def test_sigterm_without_clients_exits_0(self):
        d = Daemon(size="8M")
        sock = d.sock
        d.proc.send_signal(signal.SIGTERM)
        self.assertEqual(d.proc.wait(10), 0)
        self.assertFalse(os.path.exists(sock))
        d.stop()

    def test_sigterm_with_client_drains(self):
        d = Daemon(size="16M")
        try:
            h = nbd.NBD()
            h.connect_unix(d.sock)
            data = os.urandom(65536)
            h.pwrite(data, 0)
            d.proc.send_signal(signal.SIGTERM)
            time.sleep(1.5)
            self.assertIsNone(d.proc.poll(), "must not exit while a client is attached")
            self.assertEqual(h.pread(65536, 0), data)   # still served
            h.pwrite(data, 65536)
            self.assertEqual(d.status_dict()["state"], "draining")
            d.wait_log("draining, 1 client(s) attached")
            # no new clients while draining
            h2 = nbd.NBD()
            with self.assertRaises(nbd.Error):
                h2.connect_unix(d.sock)
            d.proc.send_signal(signal.SIGINT)   # a second signal does not force it
            time.sleep(0.5)
            self.assertIsNone(d.proc.poll())
            self.assertEqual(h.pread(65536, 65536), data)
            h.shutdown()
            self.assertEqual(d.proc.wait(10), 0)
            d.wait_log("no client attached: exiting")
        finally:
            d.stop()

    def notify_case(self, abstract):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        with tempfile.TemporaryDirectory() as t:
            if abstract:
                name = "@vs-test-%d" % os.getpid()
                s.bind("\0" + name[1:])
            else:
                name = os.path.join(t, "notify")
                s.bind(name)
            s.settimeout(20)
            d = Daemon(size="8M", env={"NOTIFY_SOCKET": name}, wait=False)
            try:
                msgs = []
                while not any("READY=1" in m for m in msgs):
                    msgs.append(s.recv(4096).decode())
                self.assertTrue(os.path.exists(d.sock), "READY=1 only once listening")
                self.assertTrue(any(m.startswith("STATUS=serving: 8 MiB") for m in msgs), msgs)
                d.proc.send_signal(signal.SIGTERM)
                while not any("STOPPING=1" in m for m in msgs):
                    msgs.append(s.recv(4096).decode())
                self.assertEqual(d.proc.wait(10), 0)
            finally:
                d.stop()
                s.close()

    def test_notify_path_socket(self):
        self.notify_case(abstract=False)

    def test_notify_abstract_socket(self):
        self.notify_case(abstract=True)

    def test_unprivileged_measures_reported_once(self):
        d = Daemon(size="8M")
        try:
            log = d.wait_log("serving 8 MiB")
            if os.geteuid() != 0:
                self.assertEqual(log.count("running without"), 1)
            self.assertIn("serving 8 MiB", log)
        finally:
            d.stop()

    def test_too_many_clients_refused_others_unharmed(self):
        d = Daemon(size="8M", args=["--max-clients", "2"])
        try:
            hs = []
            for _ in range(2):
                h = nbd.NBD()
                h.connect_unix(d.sock)
                hs.append(h)
            h3 = nbd.NBD()
            # Refused at accept, before any handshake: a GO is never
            # acknowledged to a client that then finds no slot.
            with self.assertRaises(nbd.Error):
                h3.connect_unix(d.sock)
            d.wait_log("all 2 connection slots are busy")
            for h in hs:
                h.pwrite(b"\7" * 4096, 0)
                h.shutdown()
        finally:
            d.stop()

    def test_a_go_past_the_cap_is_refused_and_negotiation_goes_on(self):
        # Both in negotiation, one slot: the first GO takes it, the second
        # is told no (the server's policy) and may go on negotiating; once
        # the slot is free again its GO succeeds.
        d = Daemon(size="8M", args=["--max-clients", "1"])
        try:
            a, b = Raw(d.raw()), Raw(d.raw())
            a.greeting()
            b.greeting()
            self.assertEqual(a.go(b"vram-swap")[-1][1], REP_ACK)
            self.assertEqual(b.go(b"vram-swap")[-1][1], ERR_POLICY)
            d.wait_log("refused a client's GO: all 1 connection slots are busy")
            b.option(OPT_LIST)
            self.assertEqual(b.opt_reply()[1], REP_SERVER)
            self.assertEqual(b.opt_reply()[1], REP_ACK)
            a.request(CMD_WRITE, 0, 4096, payload=b"\x42" * 4096)
            self.assertEqual(a.reply()[0], 0)
            a.request(CMD_DISC)
            a.s.close()
            end = time.time() + 10
            while True:
                replies = b.go(b"vram-swap")
                if replies[-1][1] == REP_ACK or time.time() > end:
                    break
                time.sleep(0.05)
            self.assertEqual(replies[-1][1], REP_ACK)
            b.request(CMD_READ, 0, 4096)
            self.assertEqual(b.reply(4096), (0, 1, b"\x42" * 4096))
            b.s.close()
        finally:
            d.stop()

    def test_a_burst_past_the_cap_is_refused_before_any_go(self):
        # Clients still negotiating count against the cap too: of a burst
        # of eight, the three that fit are served, the others refused at
        # connect; none is hung up on after its handshake succeeded.
        d = Daemon(size="8M", args=["--max-clients", "3"])
        try:
            results, lock = [], threading.Lock()
            tried, cv = [0], threading.Condition()

            def tried_one():
                with cv:
                    tried[0] += 1
                    cv.notify_all()

            def client(i):
                h = nbd.NBD()
                try:
                    h.connect_unix(d.sock)
                except nbd.Error:
                    with lock:
                        results.append(("refused", i, None))
                    tried_one()
                    return
                tried_one()
                try:
                    h.pwrite(bytes([i + 1]) * 4096, 4096 * i)
                    got = h.pread(4096, 4096 * i)
                    with lock:
                        results.append(("served", i, got == bytes([i + 1]) * 4096))
                    # Holds its slot until every client has tried.
                    with cv:
                        cv.wait_for(lambda: tried[0] == 8, timeout=30)
                    h.shutdown()
                except nbd.Error as e:
                    with lock:
                        results.append(("hung up after its GO", i, str(e)))

            ts = [threading.Thread(target=client, args=(i,)) for i in range(8)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(timeout=30)
            kinds = sorted(r[0] for r in results)
            self.assertEqual(kinds, ["refused"] * 5 + ["served"] * 3, results)
            self.assertTrue(all(r[2] for r in results if r[0] == "served"), results)
        finally:
            d.stop()


if __name__ == "__main__":
    unittest.main()
