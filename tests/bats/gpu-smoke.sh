#!/bin/bash
# Smoke test of the shell front on a GPU machine (not part of make check:
# CI has no GPU). Runs the real vram-swap-setup, -status and -teardown with
# the real nvidia-smi, ldconfig, driver version files and the cuda backend
# of build/vram-swapd. Stubbed, because such machines have no nbd module:
# modprobe, mkswap, swapon/swapoff (against a fake /proc/swaps) and the
# kernel half of nbd-client. Where nbd-client is not installed, its export
# listing (the readiness check) is done by a few lines of Python speaking
# NBD_OPT_LIST to the daemon.
#   make && sudo tests/bats/gpu-smoke.sh        (BACKEND=host to try it
#                                                 without a GPU)
set -u
cd "$(dirname "$0")/../.." || exit 2
REPO=$PWD
BACKEND=${BACKEND:-cuda}
[[ -x build/vram-swapd ]] || { echo "run make first" >&2; exit 2; }
T=$(mktemp -d)
cleanup() {
	local pid
	pid=$(sed -n 's/^pid=//p' "$T/run/vram-swap/setup.state" 2>/dev/null)
	[[ -n $pid ]] && kill "$pid" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
export CALLS=$T/calls
export VRAM_SWAP_PROCFS=$T/proc VRAM_SWAP_SYSFS=$T/sys VRAM_SWAP_SYSCONFDIR=$T/etc \
	VRAM_SWAP_RUNDIR=$T/run VRAM_SWAP_DEVDIR=$T/dev VRAM_SWAP_LOG_FILE=$T/vram-swapd.log \
	VRAM_SWAP_DAEMON=$REPO/build/vram-swapd
mkdir -p "$T/bin" "$T/proc" "$T/sys/module/nbd" "$T/sys/block/nbd0" "$T/etc/default" "$T/dev"
# The driver's version files are real; only nbd's part of /sys is faked.
if [[ -r /sys/module/nvidia/version ]]; then
	mkdir -p "$T/sys/module/nvidia"
	cp /sys/module/nvidia/version "$T/sys/module/nvidia/"
fi
if [[ -r /proc/driver/nvidia/version ]]; then
	mkdir -p "$T/proc/driver/nvidia"
	cp /proc/driver/nvidia/version "$T/proc/driver/nvidia/"
fi
printf 'Filename\tType\tSize\tUsed\tPriority\n' >"$T/proc/swaps"
: >"$T/dev/nbd0"
echo 0 >"$T/sys/block/nbd0/size"
echo 43:0 >"$T/sys/block/nbd0/dev"

REAL_NBD=$(command -v nbd-client || true)
cat >"$T/nbd-list.py" <<'EOF'
import socket, struct, sys
IHAVEOPT = 0x49484156454F5054
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
def rd(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            sys.exit("server closed the connection")
        b += c
    return b
magic, opt, flags = struct.unpack(">QQH", rd(18))
if magic != 0x4E42444D41474943 or opt != IHAVEOPT:
    sys.exit("not an NBD newstyle server")
s.sendall(struct.pack(">I", 1 | (flags & 2)))          # FIXED_NEWSTYLE, NO_ZEROES
s.sendall(struct.pack(">QII", IHAVEOPT, 3, 0))          # NBD_OPT_LIST
print("Negotiation: ..")
while True:
    _, _, rtype, length = struct.unpack(">QIII", rd(20))
    data = rd(length)
    if rtype == 1:                                       # NBD_REP_ACK
        break
    if rtype != 2:                                       # NBD_REP_SERVER
        sys.exit("error reply %#x" % rtype)
    n = struct.unpack(">I", data[:4])[0]
    print(data[4:4 + n].decode())
s.sendall(struct.pack(">QII", IHAVEOPT, 2, 0))          # NBD_OPT_ABORT
EOF
cat >"$T/bin/nbd-client" <<EOF
#!/bin/bash
echo "nbd-client \$*" >>"\$CALLS"
case " \$* " in
*" -l "*) if [[ -n "$REAL_NBD" ]]; then exec "$REAL_NBD" "\$@"; else exec python3 "$T/nbd-list.py" "\$2"; fi ;;
esac
exit 0
EOF
for c in modprobe mkswap; do
	# shellcheck disable=SC2016 # expands when the stub runs
	printf '#!/bin/bash\necho "%s $*" >>"$CALLS"\n' "$c" >"$T/bin/$c"
done
cat >"$T/bin/swapon" <<'EOF'
#!/bin/bash
echo "swapon $*" >>"$CALLS"
[[ $1 == --show ]] && exit 0
printf '%s\tpartition\t1048572\t0\t%s\n' "${!#}" "$2" >>"$VRAM_SWAP_PROCFS/swaps"
EOF
cat >"$T/bin/swapoff" <<'EOF'
#!/bin/bash
echo "swapoff $*" >>"$CALLS"
grep -v "^$1[[:space:]]" "$VRAM_SWAP_PROCFS/swaps" >"$VRAM_SWAP_PROCFS/swaps.new"
mv "$VRAM_SWAP_PROCFS/swaps.new" "$VRAM_SWAP_PROCFS/swaps"
EOF
chmod +x "$T"/bin/*
export PATH=$T/bin:$PATH
printf '%s\n' "VRAM_SWAP_BACKEND=$BACKEND" VRAM_SWAP_SIZE=1G VRAM_SWAP_MIN_SIZE=256M \
	VRAM_SWAP_DEVICE=0 >"$T/etc/default/vram-swap"

fails=0
check() { # check WHAT COMMAND...: runs it, shows its output, counts failures
	local what=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	printf '%s\n' "$out" | sed 's/^/    /'
	if ((rc == 0)); then echo "PASS $what"; else echo "FAIL $what (exit $rc)"; fails=$((fails + 1)); fi
	LAST=$out
}

if [[ $BACKEND == cuda ]]; then
	nvidia-smi -L
	ldconfig -p | grep 'libcuda\.so\.1 '
	cat /sys/module/nvidia/version 2>/dev/null
	uuid=$(nvidia-smi --query-gpu=uuid --format=csv,noheader -i 0)
	bus=$(nvidia-smi --query-gpu=pci.bus_id --format=csv,noheader -i 0)
	name=$(nvidia-smi --query-gpu=name --format=csv,noheader -i 0)
	check "setup --check, GPU 0" scripts/vram-swap-setup --check
	check "setup --check, GPU by UUID" env VRAM_SWAP_DEFAULTS=<(echo "VRAM_SWAP_DEVICE=$uuid") \
		scripts/vram-swap-setup --check
	check "setup --check, GPU by short bus id ${bus#*:}" \
		env VRAM_SWAP_DEFAULTS=<(echo "VRAM_SWAP_DEVICE=${bus#*:}") scripts/vram-swap-setup --check
fi
check "setup (daemon started, readiness, attach)" scripts/vram-swap-setup
check "status" scripts/vram-swap-status
if [[ $BACKEND == cuda ]]; then
	if [[ $LAST == *"GPU:       $name ($uuid, "* ]]; then
		echo "PASS status names $name $uuid"
	else
		echo "FAIL status does not name $name $uuid"
		fails=$((fails + 1))
	fi
fi
check "status --json" scripts/vram-swap-status --json
check "status --json parses, active" python3 -c 'import json,sys; j=json.loads(sys.argv[1]); assert j["active"] and j["export"]["size_bytes"] == 1 << 30, j' "$LAST"
check "teardown" scripts/vram-swap-teardown
check "status after teardown says not set up" bash -c '! scripts/vram-swap-status'
echo "--- commands run:"
cat "$CALLS"
echo "--- daemon log:"
cat "$T/vram-swapd.log"
echo "$fails failure(s)"
((fails == 0))
