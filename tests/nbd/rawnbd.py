# SPDX-License-Identifier: GPL-2.0-or-later
"""A deliberately dumb NBD client over a raw socket: it sends exactly the
bytes a test asks for, including ones no well-behaved client (libnbd) would
send, and reads replies field by field."""
import struct

NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
REPMAGIC = 0x0003E889045565A9
REQMAGIC = 0x25609513
SIMPLE = 0x67446698

OPT_EXPORT_NAME, OPT_ABORT, OPT_LIST, OPT_STARTTLS, OPT_INFO, OPT_GO = 1, 2, 3, 5, 6, 7
OPT_STRUCTURED_REPLY, OPT_SET_META_CONTEXT = 8, 10
REP_ACK, REP_SERVER, REP_INFO = 1, 2, 3
ERR_UNSUP, ERR_POLICY, ERR_INVALID, ERR_UNKNOWN = 2**31 + 1, 2**31 + 2, 2**31 + 3, 2**31 + 6
CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH, CMD_TRIM, CMD_CACHE, CMD_ZERO, CMD_BS = range(8)
FUA, NO_HOLE, DF, REQ_ONE, FAST_ZERO = 1, 2, 4, 8, 16


class Closed(Exception):
    pass


class Raw:
    def __init__(self, sock):
        self.s = sock

    def recv(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise Closed("server closed after %d of %d bytes" % (len(buf), n))
            buf += chunk
        return buf

    def is_closed(self):
        """True when the server hung up (no more bytes, EOF)."""
        try:
            return self.s.recv(1) == b""
        except ConnectionResetError:
            return True

    def greeting(self, cflags=3):
        magic, opt, flags = struct.unpack(">QQH", self.recv(18))
        assert magic == NBDMAGIC and opt == IHAVEOPT, (hex(magic), hex(opt))
        self.s.sendall(struct.pack(">I", cflags))
        return flags

    def option(self, opt, data=b""):
        self.s.sendall(struct.pack(">QII", IHAVEOPT, opt, len(data)) + data)

    def opt_reply(self):
        magic, opt, typ, ln = struct.unpack(">QIII", self.recv(20))
        assert magic == REPMAGIC, hex(magic)
        return opt, typ, self.recv(ln)

    def go(self, name=b"", opt=OPT_GO, infos=()):
        data = struct.pack(">I", len(name)) + name + struct.pack(">H", len(infos))
        data += b"".join(struct.pack(">H", i) for i in infos)
        self.option(opt, data)
        replies = []
        while True:
            r = self.opt_reply()
            replies.append(r)
            if r[1] != REP_INFO:
                return replies

    def handshake(self):
        self.greeting()
        replies = self.go()
        assert replies[-1][1] == REP_ACK, replies

    def request(self, cmd, off=0, length=0, flags=0, cookie=1, payload=b""):
        self.s.sendall(struct.pack(">IHHQQI", REQMAGIC, flags, cmd, cookie, off, length) + payload)

    def reply(self, data_len=0):
        magic, err, cookie = struct.unpack(">IIQ", self.recv(16))
        assert magic == SIMPLE, hex(magic)
        data = self.recv(data_len) if err == 0 and data_len else b""
        return err, cookie, data
