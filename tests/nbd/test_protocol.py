# SPDX-License-Identifier: GPL-2.0-or-later
"""Conformance of vram-swapd's NBD server, through real clients (libnbd's
nbdsh API, nbdinfo, nbd-client) and a raw socket for what real clients
never send. Run: /usr/bin/python3 -m unittest -v tests/nbd/test_protocol.py"""
import json
import os
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nbd  # noqa: E402  (python3-libnbd)
from daemon import DaemonCase  # noqa: E402
from rawnbd import *  # noqa: E402,F401,F403

SIZE = 64 << 20
EINVAL, ENOSPC, EOVERFLOW = 22, 28, 75


def errno_of(exc):
    """libnbd's Python errors carry errno as a number or as a name."""
    e = exc.errno
    if isinstance(e, str):
        import errno as errmod
        return getattr(errmod, e)
    return e


class Handshake(DaemonCase):

    def raw(self):
        r = Raw(self.d.raw())
        self.addCleanup(r.s.close)
        return r

    def test_nbdinfo_flags_size_block_sizes(self):
        out = subprocess.run(["nbdinfo", "--json", self.d.uri], check=True,
                             capture_output=True, text=True).stdout
        e = json.loads(out)["exports"][0]
        self.assertEqual(e["export-size"], SIZE)
        self.assertFalse(e["is_rotational"])
        self.assertFalse(e["is_read_only"])
        for k in ("can_flush", "can_fua", "can_trim", "can_zero", "can_fast_zero",
                  "can_multi_conn"):
            self.assertTrue(e[k], k)
        self.assertFalse(e["can_cache"])
        self.assertFalse(e["can_df"])
        self.assertEqual(e["block_size_minimum"], 4096)
        self.assertEqual(e["block_size_preferred"], 4096)
        self.assertEqual(e["block_size_maximum"], 32 << 20)

    def test_greeting_flags(self):
        r = self.raw()
        self.assertEqual(r.greeting(), 3)  # FIXED_NEWSTYLE | NO_ZEROES

    def test_go_default_and_named_export(self):
        for name in ("", "vram-swap"):
            h = nbd.NBD()
            h.set_export_name(name)
            h.connect_unix(self.d.sock)
            self.assertEqual(h.get_size(), SIZE)
            h.shutdown()

    def test_go_unknown_export(self):
        r = self.raw()
        r.greeting()
        replies = r.go(b"nope")
        self.assertEqual(replies[-1][1], ERR_UNKNOWN)
        # negotiation goes on: the right name still works
        self.assertEqual(r.go(b"vram-swap")[-1][1], REP_ACK)

    def test_info_sends_export_and_block_size(self):
        r = self.raw()
        r.greeting()
        replies = r.go(b"", OPT_INFO, infos=(3, 1, 999))
        infos = {struct.unpack(">H", d[:2])[0]: d for (_, t, d) in replies if t == REP_INFO}
        size, flags = struct.unpack(">QH", infos[0][2:])
        self.assertEqual(size, SIZE)
        self.assertFalse(flags & (1 << 4), "ROTATIONAL must not be set")
        self.assertEqual(struct.unpack(">III", infos[3][2:]), (4096, 4096, 32 << 20))
        self.assertEqual(replies[-1][1], REP_ACK)
        # INFO does not enter transmission: GO still works
        self.assertEqual(r.go()[-1][1], REP_ACK)

    def test_info_bad_length(self):
        r = self.raw()
        r.greeting()
        r.option(OPT_INFO, struct.pack(">I", 50) + b"x")
        self.assertEqual(r.opt_reply()[1], ERR_INVALID)

    def test_libnbd_opt_info_and_list(self):
        h = nbd.NBD()
        h.set_opt_mode(True)
        h.connect_unix(self.d.sock)
        names = []
        h.opt_list(lambda name, desc: names.append(name))
        self.assertEqual(names, ["vram-swap.0"])
        h.set_export_name("vram-swap")
        h.opt_info()
        self.assertEqual(h.get_size(), SIZE)
        self.assertEqual(h.get_block_size(nbd.SIZE_MINIMUM), 4096)
        h.opt_abort()

    def test_list_with_data_is_invalid(self):
        r = self.raw()
        r.greeting()
        r.option(OPT_LIST, b"junk")
        self.assertEqual(r.opt_reply()[1], ERR_INVALID)

    def test_abort(self):
        r = self.raw()
        r.greeting()
        r.option(OPT_ABORT)
        self.assertEqual(r.opt_reply()[1], REP_ACK)
        self.assertTrue(r.is_closed())

    def test_unsupported_options_then_go(self):
        r = self.raw()
        r.greeting()
        for opt in (OPT_STARTTLS, OPT_STRUCTURED_REPLY, OPT_SET_META_CONTEXT, 4, 99):
            r.option(opt, b"\0" * 8 if opt == OPT_SET_META_CONTEXT else b"")
            self.assertEqual(r.opt_reply()[1], ERR_UNSUP, opt)
        self.assertEqual(r.go()[-1][1], REP_ACK)
        r.request(CMD_READ, 0, 4096)
        self.assertEqual(r.reply(4096)[0], 0)

    def test_libnbd_falls_back_to_simple_replies(self):
        h = nbd.NBD()
        h.connect_unix(self.d.sock)
        self.assertFalse(h.get_structured_replies_negotiated())
        h.shutdown()

    def test_export_name_with_no_zeroes(self):
        r = self.raw()
        r.greeting(cflags=3)
        r.option(OPT_EXPORT_NAME, b"vram-swap")
        size, flags = struct.unpack(">QH", r.recv(10))
        self.assertEqual(size, SIZE)
        r.request(CMD_READ, 0, 4096, cookie=7)
        self.assertEqual(r.reply(4096)[:2], (0, 7))

    def test_export_name_without_no_zeroes(self):
        r = self.raw()
        r.greeting(cflags=1)
        r.option(OPT_EXPORT_NAME, b"")
        size, flags = struct.unpack(">QH", r.recv(10))
        self.assertEqual(size, SIZE)
        self.assertEqual(r.recv(124), b"\0" * 124)
        r.request(CMD_FLUSH, cookie=9)
        self.assertEqual(r.reply()[:2], (0, 9))

    def test_export_name_unknown_hangs_up(self):
        r = self.raw()
        r.greeting()
        r.option(OPT_EXPORT_NAME, b"nope")
        self.assertTrue(r.is_closed())

    def test_unknown_client_flags_close(self):
        r = self.raw()
        r.greeting(cflags=3 | (1 << 7))
        self.assertTrue(r.is_closed())

    def test_bad_option_magic_closes(self):
        r = self.raw()
        r.greeting()
        r.s.sendall(b"GARBAGE!" + b"\0" * 8)
        self.assertTrue(r.is_closed())

    def test_huge_option_length_closes(self):
        r = self.raw()
        r.greeting()
        r.s.sendall(struct.pack(">QII", IHAVEOPT, OPT_GO, 0xFFFFFFFF))
        self.assertTrue(r.is_closed())

    def test_nbd_client_lists_export(self):
        out = subprocess.run(["nbd-client", "-unix", self.d.sock, "-l"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("vram-swap", out.stdout)

    def test_daemon_survives_hostile_clients(self):
        self.test_bad_option_magic_closes()
        self.test_huge_option_length_closes()
        r = self.raw()
        r.s.close()   # connect and vanish
        self.test_go_default_and_named_export()
        self.assertIsNone(self.d.proc.poll())


class Transmission(DaemonCase):

    def setUp(self):
        self.h = nbd.NBD()
        self.h.set_strict_mode(0)   # let bad requests reach the server
        self.h.connect_unix(self.d.sock)
        self.addCleanup(self.h.shutdown)

    def conn(self):
        r = Raw(self.d.raw())
        r.handshake()
        self.addCleanup(r.s.close)
        return r

    def assertNbdErrno(self, err, fn, *args, **kw):
        with self.assertRaises(nbd.Error) as cm:
            fn(*args, **kw)
        self.assertEqual(errno_of(cm.exception), err)

    def test_never_written_reads_zero(self):
        self.assertEqual(self.h.pread(65536, SIZE - 65536), b"\0" * 65536)

    def test_write_read_roundtrip(self):
        data = os.urandom(1 << 20)
        self.h.pwrite(data, 4 << 20)
        self.assertEqual(self.h.pread(1 << 20, 4 << 20), data)
        self.h.pwrite(data[:4096], 4 << 20, nbd.CMD_FLAG_FUA)
        self.h.flush()
        self.assertEqual(self.h.pread(4096, 4 << 20), data[:4096])

    def test_zero_page_over_data(self):
        self.h.pwrite(os.urandom(8192), 0)
        self.h.pwrite(b"\0" * 4096, 4096)
        self.assertEqual(self.h.pread(4096, 4096), b"\0" * 4096)
        page = os.urandom(4096)
        self.h.pwrite(page, 4096)
        self.assertEqual(self.h.pread(4096, 4096), page)

    def test_trim_reads_back_zero(self):
        data = os.urandom(64 << 10)
        self.h.pwrite(data, 8 << 20)
        self.h.trim(16384, (8 << 20) + 4096)
        got = self.h.pread(64 << 10, 8 << 20)
        self.assertEqual(got[:4096], data[:4096])
        self.assertEqual(got[4096:20480], b"\0" * 16384)
        self.assertEqual(got[20480:], data[20480:])

    def test_trim_whole_export(self):
        self.h.pwrite(os.urandom(4096), SIZE - 4096)
        self.h.trim(SIZE, 0, nbd.CMD_FLAG_FUA)
        self.assertEqual(self.h.pread(4096, SIZE - 4096), b"\0" * 4096)

    def test_write_zeroes_flags(self):
        for flags in (0, nbd.CMD_FLAG_NO_HOLE, nbd.CMD_FLAG_FAST_ZERO,
                      nbd.CMD_FLAG_FUA | nbd.CMD_FLAG_NO_HOLE):
            self.h.pwrite(os.urandom(8192), 12 << 20)
            self.h.zero(8192, 12 << 20, flags)
            self.assertEqual(self.h.pread(8192, 12 << 20), b"\0" * 8192)

    def test_large_requests(self):
        for n in (4 << 20, 32 << 20):
            data = os.urandom(n)
            self.h.pwrite(data, 16 << 20 if n < SIZE // 2 else 0)
            self.assertEqual(self.h.pread(n, 16 << 20 if n < SIZE // 2 else 0), data)

    def test_read_past_end_einval(self):
        self.assertNbdErrno(EINVAL, self.h.pread, 4096, SIZE)

    def test_write_past_end_enospc(self):
        self.assertNbdErrno(ENOSPC, self.h.pwrite, b"x" * 4096, SIZE)

    def test_zero_past_end_enospc(self):
        self.assertNbdErrno(ENOSPC, self.h.zero, 8192, SIZE - 4096)

    def test_trim_past_end_einval(self):
        self.assertNbdErrno(EINVAL, self.h.trim, 8192, SIZE - 4096)

    def test_misaligned_einval(self):
        self.assertNbdErrno(EINVAL, self.h.pread, 512, 0)
        self.assertNbdErrno(EINVAL, self.h.pread, 4096, 100)
        self.assertNbdErrno(EINVAL, self.h.pwrite, b"x" * 1000, 0)
        self.assertNbdErrno(EINVAL, self.h.trim, 4096, 1)

    def test_wrapping_offsets(self):
        r = self.conn()
        r.request(CMD_READ, 2**64 - 4096, 8192, cookie=1)
        self.assertEqual(r.reply()[0], EINVAL)
        r.request(CMD_WRITE, 2**64 - 4096, 8192, cookie=2, payload=b"\1" * 8192)
        self.assertEqual(r.reply()[0], ENOSPC)
        r.request(CMD_TRIM, 4096, 2**32 - 4096, cookie=3)
        self.assertEqual(r.reply()[0], EINVAL)
        r.request(CMD_READ, 0, 4096, cookie=4)
        self.assertEqual(r.reply(4096)[:2], (0, 4))

    def test_rejected_write_payload_is_drained(self):
        r = self.conn()
        r.request(CMD_WRITE, SIZE, 8192, cookie=1, payload=b"\x25" * 8192)
        r.request(CMD_WRITE, 1, 4096, cookie=2, payload=b"\x25" * 4096)
        r.request(CMD_WRITE, 0, 4096, flags=64, cookie=3, payload=b"\x25" * 4096)
        r.request(CMD_READ, 0, 4096, cookie=4)
        self.assertEqual(r.reply()[:2], (ENOSPC, 1))
        self.assertEqual(r.reply()[:2], (EINVAL, 2))
        self.assertEqual(r.reply()[:2], (EINVAL, 3))
        err, cookie, _ = r.reply(4096)
        self.assertEqual((err, cookie), (0, 4))

    def test_oversized_requests(self):
        """EOVERFLOW is for reads; a write over the maximum is EINVAL, and
        its payload is drained so the stream stays in sync."""
        r = self.conn()
        r.request(CMD_READ, 0, (32 << 20) + 4096, cookie=1)
        self.assertEqual(r.reply()[0], EOVERFLOW)
        n = (32 << 20) + 4096
        r.request(CMD_WRITE, 0, n, cookie=2, payload=b"\x5a" * n)
        self.assertEqual(r.reply()[:2], (EINVAL, 2))
        r.request(CMD_READ, 0, 4096, cookie=3)
        err, cookie, data = r.reply(4096)
        self.assertEqual((err, cookie), (0, 3))
        self.assertNotEqual(data, b"\x5a" * 4096, "a refused write must not land")

    def test_unknown_commands_and_flags_einval(self):
        r = self.conn()
        cases = [(CMD_CACHE, 0), (CMD_BS, 0), (99, 0), (CMD_READ, DF),
                 (CMD_READ, REQ_ONE), (CMD_READ, 1 << 9), (CMD_TRIM, NO_HOLE),
                 (CMD_WRITE, FAST_ZERO)]
        for i, (cmd, flags) in enumerate(cases):
            payload = b"\0" * 4096 if cmd == CMD_WRITE else b""
            r.request(cmd, 0, 4096, flags=flags, cookie=100 + i, payload=payload)
            self.assertEqual(r.reply()[:2], (EINVAL, 100 + i), (cmd, flags))

    def test_zero_length_read_write_einval(self):
        r = self.conn()
        r.request(CMD_READ, 0, 0, cookie=1)
        self.assertEqual(r.reply()[0], EINVAL)
        r.request(CMD_WRITE, 0, 0, cookie=2)
        self.assertEqual(r.reply()[0], EINVAL)

    def test_pipelined_requests_all_answered(self):
        r = self.conn()
        pages = {i: os.urandom(4096) for i in range(64)}
        blob = b"".join(struct.pack(">IHHQQI", REQMAGIC, 0, CMD_WRITE, i, (i + 1000) * 4096, 4096) + p
                        for i, p in pages.items())
        r.s.sendall(blob)
        got = sorted(r.reply()[:2] for _ in pages)
        self.assertEqual(got, [(0, i) for i in range(64)])
        for i in range(64):
            r.request(CMD_READ, (i + 1000) * 4096, 4096, cookie=i)
        for _ in pages:
            err, cookie, data = r.reply(4096)
            self.assertEqual((err, data), (0, pages[cookie]))

    def test_aio_many_in_flight(self):
        h = self.h
        bufs = []
        for i in range(128):
            b = nbd.Buffer.from_bytearray(bytearray(os.urandom(4096)))
            bufs.append(b)
            h.aio_pwrite(b, (2000 + i) * 4096)
        while h.aio_in_flight() > 0:
            h.poll(-1)
        got = h.pread(128 * 4096, 2000 * 4096)
        self.assertEqual(got, b"".join(b.to_bytearray() for b in bufs))

    def test_disc_closes_after_answering(self):
        r = self.conn()
        r.request(CMD_FLUSH, cookie=5)
        r.request(CMD_DISC, cookie=6)
        self.assertEqual(r.reply()[:2], (0, 5))
        self.assertTrue(r.is_closed())

    def test_bad_request_magic_closes(self):
        r = self.conn()
        r.s.sendall(b"\0" * 28)
        self.assertTrue(r.is_closed())
        self.assertIsNone(self.d.proc.poll())

    def test_disconnect_mid_payload(self):
        r = self.conn()
        r.request(CMD_WRITE, 0, 1 << 20, cookie=1, payload=b"\1" * 1000)
        r.s.close()
        r = self.conn()
        r.request(CMD_READ, 0, 4096, cookie=2)
        self.assertEqual(r.reply(4096)[:2], (0, 2))

    def test_counters_in_status_file(self):
        before = self.d.status_dict()
        self.h.pwrite(os.urandom(4096), 20 << 20)
        self.h.pread(4096, 20 << 20)
        deadline = time.time() + 5
        while time.time() < deadline:
            after = self.d.status_dict()
            if int(after["writes"]) > int(before["writes"]) and int(after["reads"]) > int(before["reads"]):
                break
            time.sleep(0.2)
        self.assertGreater(int(after["writes"]), int(before["writes"]))
        self.assertGreater(int(after["read_bytes"]), int(before["read_bytes"]))
        self.assertEqual(after["state"], "serving")
        self.assertEqual(int(after["size_bytes"]), SIZE)


class SameFilled(DaemonCase):
    """Pages of one repeated 8-byte word, any word, are kept as that word
    and counted as zram counts them: stored_pages (written since their
    last discard), same_pages (of those, same-filled), used_bytes (the
    rest, in memory). Its own daemon, so that the counts are this test's."""

    def wait_counts(self, stored, same, used):
        deadline = time.time() + 5
        while True:
            st = self.d.status_dict()
            got = (int(st["stored_pages"]), int(st["same_pages"]), int(st["used_bytes"]))
            chunk = st["chunk.0"].split()
            if got == (stored, same, used) and chunk[2:5] == [str(used), str(stored), str(same)]:
                return
            if time.time() > deadline:
                self.fail("status says stored/same/used %s (chunk.0=%s), expected %s"
                          % (got, st["chunk.0"], (stored, same, used)))
            time.sleep(0.2)

    def test_any_word_is_kept_and_counted(self):
        h = nbd.NBD()
        h.connect_unix(self.d.sock)
        self.addCleanup(h.shutdown)
        words = [0, 0xFFFFFFFFFFFFFFFF, 0x0123456789ABCDEF, 1, 1 << 63, 0x5A5A5A5A5A5A5A5A]
        pages, data = [], 0
        for i in range(256):
            if i % 4 == 3:
                pages.append(os.urandom(4096))
                data += 1
            elif i % 16 == 2:
                # one byte off at the very end: data, not a same-filled page
                p = bytearray(struct.pack("<Q", words[i % 6]) * 512)
                p[4095] ^= 1
                pages.append(bytes(p))
                data += 1
            else:
                pages.append(struct.pack("<Q", words[i % 6] ^ (i << 8)) * 512)
        blob = b"".join(pages)
        h.pwrite(blob, 1 << 20)
        self.assertEqual(h.pread(len(blob), 1 << 20), blob)
        self.wait_counts(256, 256 - data, data * 4096)
        # Same-filled pages over data and data over same-filled pages.
        h.pwrite(blob[4096:8192], (1 << 20) + 3 * 4096)
        h.pwrite(blob[3 * 4096:4 * 4096], (1 << 20) + 4096)
        self.assertEqual(h.pread(4096, (1 << 20) + 3 * 4096), blob[4096:8192])
        self.assertEqual(h.pread(4096, (1 << 20) + 4096), blob[3 * 4096:4 * 4096])
        self.wait_counts(256, 256 - data, data * 4096)
        # A discard stores nothing; a write of zeroes stores zero pages.
        h.trim(64 * 4096, 1 << 20)
        h.zero(16 * 4096, 8 << 20)
        self.assertEqual(h.pread(64 * 4096, 1 << 20), b"\0" * (64 * 4096))
        self.assertEqual(h.pread(16 * 4096, 8 << 20), b"\0" * (16 * 4096))
        left = sum(1 for i in range(64, 256) if i % 4 == 3 or i % 16 == 2)
        self.wait_counts(256 - 64 + 16, 256 - 64 + 16 - left, left * 4096)


def text_pages(n, seed=0):
    """Pages of words and numbers, as a program's heap holds them: they
    compress, and no page is one word repeated."""
    words = [b"swap", b"page", b"kernel", b"vram", b"memory", b"python", b"dict", b"%d"]
    out = bytearray()
    i = seed
    while len(out) < n * 4096:
        w = words[i % 8]
        out += (w % i if w == b"%d" else w) + b" "
        i = (i * 1103515245 + 12345) % 2147483648
    return bytes(out[:n * 4096])


class Compressed(DaemonCase):
    """--compress: 8 MiB of memory offering twice that. Text-like pages are
    stored in a fraction of their size and read back; incompressible pages
    fill the memory, after which a write is refused with ENOSPC (never
    acknowledged and lost), logged once, and every page stored before still
    reads back; a discard gives the memory back."""
    DAEMON_SIZE = "8M"
    DAEMON_ARGS = ("--compress", "lz4")

    def counts(self):
        st = self.d.status_dict()
        self.assertEqual(st["compress"], self.DAEMON_ARGS[1])
        chunk = dict(zip("gpu size used stored same clients compr export".split(),
                         st["chunk.0"].split()))
        for k, field in (("used", "used_bytes"), ("stored", "stored_pages"),
                         ("same", "same_pages"), ("compr", "compr_bytes"),
                         ("export", "export_bytes")):
            self.assertEqual(chunk[k], st[field], (k, st))
        return {k: int(st[k]) for k in ("stored_pages", "same_pages", "used_bytes",
                                          "compr_bytes", "export_bytes", "size_bytes",
                                          "full_writes", "io_errors")}

    def wait_counts(self, **want):
        deadline = time.time() + 5
        while True:
            c = self.counts()
            if all(c[k] == v for k, v in want.items()) or time.time() > deadline:
                return c
            time.sleep(0.2)

    def test_pages_compress_fill_the_memory_and_come_back(self):
        h = nbd.NBD()
        h.connect_unix(self.d.sock)
        self.addCleanup(h.shutdown)
        self.assertEqual(h.get_size(), 16 << 20)
        text = text_pages(1024, seed=7)
        h.pwrite(text, 0)
        self.assertEqual(h.pread(len(text), 0), text)
        c = self.wait_counts(stored_pages=1024)
        self.assertEqual((c["stored_pages"], c["same_pages"]), (1024, 0), c)
        # zram's mm_stat: orig_data_size over mem_used_total.
        self.assertLess(c["compr_bytes"], 1024 * 4096 // 2, c)
        self.assertGreaterEqual(c["used_bytes"], c["compr_bytes"], c)
        self.assertLess(c["used_bytes"], c["compr_bytes"] + 1024 * 64, c)

        # Noise over the rest: the memory holds 2048 frames of 4 KiB, the
        # text packed into hardly more frames than its bytes fill (a frame
        # of pages of n blocks leaves fewer than n free), and every other
        # frame takes a page of noise. The first that does not fit is
        # refused.
        text_frames = -(-c["used_bytes"] // 4096)
        noise = os.urandom(4096 * 3072)
        stored, refused = 0, None
        for i in range(3072):
            try:
                h.pwrite(noise[i * 4096:(i + 1) * 4096], (4 << 20) + i * 4096)
                stored += 1
            except nbd.Error as e:
                refused = i
                self.assertEqual(errno_of(e), ENOSPC, e)
                break
        self.assertIsNotNone(refused, "the memory never filled")
        self.assertGreaterEqual(stored, 2048 - text_frames * 9 // 8 - 2, c)
        self.assertLessEqual(stored, 2048 - text_frames)
        # Refused again, and logged once, not once per write.
        for _ in range(20):
            with self.assertRaises(nbd.Error) as cm:
                h.pwrite(noise[refused * 4096:(refused + 1) * 4096], (4 << 20) + refused * 4096)
            self.assertEqual(errno_of(cm.exception), ENOSPC)
        c = self.wait_counts(full_writes=21)
        self.assertEqual(c["full_writes"], 21, c)
        self.assertEqual(self.d.logtext().count("is full of compressed pages"), 1,
                         self.d.logtext())
        # Nothing stored before is lost, and the refused page reads as before.
        self.assertEqual(h.pread(len(text), 0), text)
        self.assertEqual(h.pread(stored * 4096, 4 << 20), noise[:stored * 4096])
        self.assertEqual(h.pread(4096, (4 << 20) + refused * 4096), bytes(4096))
        # A discard gives memory back: the held bytes fall, and the page
        # that was refused is stored now.
        before = c["used_bytes"]
        h.trim(stored * 4096, 4 << 20)
        c = self.wait_counts(stored_pages=1024)
        self.assertLess(c["used_bytes"], before - stored * 4096 + 4096, c)
        h.pwrite(noise[refused * 4096:(refused + 1) * 4096], 8 << 20)
        self.assertEqual(h.pread(4096, 8 << 20), noise[refused * 4096:(refused + 1) * 4096])
        h.trim(16 << 20, 0)
        c = self.wait_counts(stored_pages=0, used_bytes=0)
        self.assertEqual((c["stored_pages"], c["used_bytes"], c["compr_bytes"]), (0, 0, 0), c)


class CompressedZstd(Compressed):
    DAEMON_ARGS = ("--compress", "zstd")


class BulkClients(DaemonCase):
    """Whole-export traffic through the tools users and the field use."""
    DAEMON_SIZE = "128M"

    def test_nbdcopy_roundtrip_multiconn(self):
        import hashlib
        import tempfile
        with tempfile.TemporaryDirectory() as t:
            src, dst = os.path.join(t, "src"), os.path.join(t, "dst")
            with open(src, "wb") as f:
                f.write(os.urandom(96 << 20) + b"\0" * (32 << 20))
            subprocess.run(["nbdcopy", "--connections=4", "--requests=32", src, self.d.uri],
                           check=True, timeout=120)
            subprocess.run(["nbdcopy", "--connections=4", self.d.uri, dst], check=True, timeout=120)
            def digest(path):
                with open(path, "rb") as f:
                    return hashlib.sha256(f.read()).hexdigest()
            self.assertEqual(digest(src), digest(dst))

    def test_fio_verify_jobs_qd32(self):
        out = subprocess.run(
            ["fio", "--name=verify", "--ioengine=nbd", "--uri=" + self.d.uri,
             "--rw=randwrite", "--bs=4k", "--iodepth=32", "--numjobs=4", "--size=32M",
             "--offset_increment=32M", "--verify=crc32c", "--do_verify=1",
             "--verify_fatal=1", "--verify_state_save=0", "--group_reporting", "--output-format=json"],
            capture_output=True, text=True, timeout=300)
        self.assertEqual(out.returncode, 0, out.stdout[-2000:] + out.stderr[-2000:])
        job = json.loads(out.stdout[out.stdout.index("{"):])["jobs"][0]
        self.assertEqual(job["error"], 0)
        self.assertEqual(job["write"]["io_bytes"], 128 << 20)
        self.assertEqual(job["read"]["io_bytes"], 128 << 20)


if __name__ == "__main__":
    unittest.main()
