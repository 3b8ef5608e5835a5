#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The pages real programs would have in swap, as image files.

Each workload runs here, on the build machine, until it holds its data;
then the pages resident in its private anonymous memory (what the kernel
swaps out of a process: heap, malloc arenas, Python's object arenas; read
through /proc/PID/pagemap and /proc/PID/mem) are copied into an image, in
address order, up to LIMIT bytes. The text workload is files on a tmpfs,
whose pages swap holds as they are. The guest writes each image to a zram
device and to vram-swapd with the same compressor and compares what each
says it holds.

    workloads.py OUTDIR [LIMIT_MIB]

Writes OUTDIR/NAME.img for python, sqlite, compiler and text.
"""
import glob
import os
import struct
import subprocess
import sys
import tempfile
import time

PAGE = 4096

PYTHON = r"""
import random, sys
random.seed(7)
words = open("/usr/share/common-licenses/GPL-3").read().split()
index = {}
for i in range(60000):
    k = " ".join(random.choice(words) for _ in range(3))
    index[k] = {"id": i, "score": random.random(), "tags": random.sample(words, 4),
                "note": "%s-%d" % (random.choice(words), i)}
lines = ["%08d %s %.3f" % (i, random.choice(words), random.random()) for i in range(120000)]
print("ready", flush=True)
sys.stdin.read()
"""

SQLITE = r"""
import random, sqlite3, sys
random.seed(11)
words = open("/usr/share/common-licenses/GPL-3").read().split()
db = sqlite3.connect(":memory:")
db.execute("PRAGMA cache_size=-200000")
db.execute("create table people (id integer primary key, name text, email text, "
           "city text, score real, joined integer, bio text)")
rows = ((i, "%s %s" % (random.choice(words), random.choice(words)),
         "%s%d@example.org" % (random.choice(words).lower(), i), random.choice(words),
         random.random() * 100, 1600000000 + random.randrange(10 ** 8),
         " ".join(random.choice(words) for _ in range(12))) for i in range(150000))
db.executemany("insert into people values (?, ?, ?, ?, ?, ?, ?)", rows)
db.execute("create index by_city on people (city, score)")
db.commit()
db.execute("select count(*), avg(score) from people group by city").fetchall()
print("ready", flush=True)
sys.stdin.read()
"""


def resident_anon(pid, limit):
    """The resident pages of pid's private anonymous mappings, up to limit."""
    out = bytearray()
    with open("/proc/%d/maps" % pid) as f:
        maps = [line.split() for line in f]
    pm = open("/proc/%d/pagemap" % pid, "rb", 0)
    mem = open("/proc/%d/mem" % pid, "rb", 0)
    try:
        for m in maps:
            perms, path = m[1], (m[5] if len(m) > 5 else "")
            if not perms.startswith("rw") or perms[3] != "p" or (path and path != "[heap]"):
                continue
            lo, hi = (int(x, 16) for x in m[0].split("-"))
            pm.seek(lo // PAGE * 8)
            flags = struct.unpack("<%dQ" % ((hi - lo) // PAGE), pm.read((hi - lo) // PAGE * 8))
            for i, fl in enumerate(flags):
                if not fl >> 63 & 1:
                    continue
                mem.seek(lo + i * PAGE)
                try:
                    out += mem.read(PAGE)
                except OSError:
                    continue
                if len(out) >= limit:
                    return bytes(out)
    finally:
        pm.close()
        mem.close()
    return bytes(out)


def python_program(code, limit):
    p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        if p.stdout.readline().strip() != "ready":
            raise SystemExit("workloads: the program did not get ready")
        return resident_anon(p.pid, limit)
    finally:
        p.kill()
        p.wait()


def compiler(limit):
    """cc1 at -O2 on a large translation unit, stopped halfway."""
    with tempfile.TemporaryDirectory() as t:
        src = os.path.join(t, "big.c")
        with open(src, "w") as f:
            f.write("#include <stdio.h>\n#include <string.h>\n")
            for i in range(2500):
                f.write("struct s%d { int a, b; char name[%d]; double v[%d]; };\n"
                        % (i, 8 + i % 24, 1 + i % 5))
                f.write("int f%d(struct s%d *p, int n) { int acc = %d;\n"
                        "  for (int k = 0; k < n; k++) { acc += p->a * k ^ (p->b >> (k & 7));\n"
                        "    if (acc %% %d == 0) acc += (int)strlen(p->name); else acc -= %d; }\n"
                        "  switch (n & 7) { case 0: acc *= 3; break; case 1: acc ^= 0x%x; break;\n"
                        "  case 2: acc += p->b; break; default: acc -= n; }\n"
                        "  return acc + (int)p->v[0]; }\n" % (i, i, i, 3 + i % 11, i % 97,
                                                             i * 2654435761 % 65536))
        gcc = subprocess.Popen(["gcc", "-O2", "-g", "-c", src, "-o", os.path.join(t, "big.o")])
        cc1 = None
        try:
            deadline = time.time() + 30
            while cc1 is None and time.time() < deadline:
                for d in glob.glob("/proc/[0-9]*"):
                    try:
                        with open(d + "/stat") as f:
                            st = f.read()
                    except OSError:
                        continue
                    if "(cc1)" in st and int(st.split()[3]) == gcc.pid:
                        cc1 = int(d.rsplit("/", 1)[1])
                time.sleep(0.05)
            if cc1 is None:
                raise SystemExit("workloads: gcc started no cc1")
            time.sleep(2.0)   # well into optimisation, its heap large
            os.kill(cc1, 19)  # SIGSTOP
            return resident_anon(cc1, limit)
        finally:
            # cc1 first: once gcc is gone it is no longer gcc's child.
            if cc1 is not None:
                os.kill(cc1, 9)
            gcc.kill()
            gcc.wait()


def text(limit):
    """Text files as a tmpfs holds them: Python's own library sources."""
    out = bytearray()
    for path in sorted(glob.glob("/usr/lib/python3*/**/*.py", recursive=True)):
        with open(path, "rb") as f:
            data = f.read()
        out += data + bytes(-len(data) % PAGE)   # a file starts on a page
        if len(out) >= limit:
            break
    return bytes(out[:limit])


def main():
    outdir = sys.argv[1]
    limit = int(sys.argv[2] if len(sys.argv) > 2 else 24) << 20
    os.makedirs(outdir, exist_ok=True)
    makers = {"python": lambda: python_program(PYTHON, limit),
              "sqlite": lambda: python_program(SQLITE, limit),
              "compiler": lambda: compiler(limit), "text": lambda: text(limit)}
    for name, make in makers.items():
        data = make()
        data = data[:len(data) // PAGE * PAGE]
        if len(data) < (4 << 20):
            raise SystemExit("workloads: %s gave only %d bytes" % (name, len(data)))
        with open(os.path.join(outdir, name + ".img"), "wb") as f:
            f.write(data)
        print("workloads: %s.img %d pages" % (name, len(data) // PAGE), file=sys.stderr)


if __name__ == "__main__":
    main()
