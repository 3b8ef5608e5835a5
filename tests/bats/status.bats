#!/usr/bin/env bats
# vram-swap-status against a stub daemon's status file (unit level).

load helpers

setup() {
	vs_env
	DPID=""
}

teardown() {
	kill_pid "$DPID"
}

@test "status: --help prints usage and exits 0" {
	run "$STATUS" --help
	assert_success
	assert_output --partial "Usage: vram-swap-status [--json]"
}

@test "status: an unknown option is a usage error (exit 2)" {
	run "$STATUS" --yaml
	assert_failure 2
}

@test "status: nothing set up: text says so, exit 3" {
	run "$STATUS"
	assert_failure 3
	assert_output "vram-swap: not set up
  daemon:    not running"
}

@test "status: active: text shows daemon, GPU, export, device, swap, counters" {
	DPID=$(start_stub_daemon)
	write_state "$DPID"
	swap_on_nbd0
	run "$STATUS"
	assert_success
	assert_line "vram-swap: active"
	assert_line "  daemon:    running, pid $DPID, serving (started directly)"
	assert_line "  GPU:       NVIDIA H100 80GB HBM3 (GPU-1b2c3d4e-0000-1111-2222-333344445555, 0000:65:00.0)"
	assert_line "  export:    vram-swap on /x: 64.0 MiB, 4.0 KiB in use, 1 client(s)"
	assert_line "  stored:    12.0 KiB in 3 pages, 2 of them same-filled (no memory), ratio 3.00"
	assert_line "  compress:  lz4, 128.0 MiB offered; the pages not same-filled take 2.9 KiB compressed"
	assert_line "  nbd:       /dev/nbd0 (attached, 4 connection(s))"
	assert_line "  crash:     pages die with the daemon: nothing keeps the pages while no daemon runs (no file descriptor store: FDSTORE=unset, at least 129 needed, as vram-swap-holder gives)"
	assert_line "  swap:      0 B used of 64.0 MiB, priority 1000"
	assert_line "  requests:  3 reads, 5 writes, 1 trims, 0 write-zeroes, 2 flushes"
	assert_line "  bytes:     12.0 KiB read, 20.0 KiB written"
	assert_line "  errors:    0 I/O, 0 protocol"
}

@test "status: --json is valid JSON with the same facts" {
	DPID=$(start_stub_daemon)
	write_state "$DPID"
	swap_on_nbd0
	run "$STATUS" --json
	assert_success
	json_expect active=true daemon.running=true "daemon.pid=$DPID" 'daemon.state="serving"' \
		'daemon.mode="direct"' 'daemon.version="0.1.0"' 'backend="cuda"' \
		'gpu.name="NVIDIA H100 80GB HBM3"' 'gpu.bus_id="0000:65:00.0"' \
		export.size_bytes=67108864 export.used_bytes=4096 export.clients=1 \
		export.stored_pages=3 export.same_pages=2 export.ratio=3.0 \
		chunks.0.stored_pages=3 chunks.0.same_pages=2 chunks.0.used_bytes=4096 \
		export.compr_bytes=3000 export.export_bytes=134217728 'export.compress="lz4"' \
		chunks.0.compr_bytes=3000 chunks.0.export_bytes=134217728 counters.full_writes=0 \
		'nbd_device="/dev/nbd0"' swap.active=true swap.size_bytes=67104768 \
		swap.used_bytes=0 swap.priority=1000 counters.reads=3 counters.writes=5 \
		counters.trims=1 counters.zeroes=0 counters.flushes=2 counters.read_bytes=12288 \
		counters.write_bytes=20480 counters.io_errors=0 counters.proto_errors=0 \
		crash_safe.safe=false \
		'crash_safe.why_not="nothing keeps the pages while no daemon runs (no file descriptor store: FDSTORE=unset, at least 129 needed, as vram-swap-holder gives)"'
}

@test "status: --json when not running: nulls, exit 3" {
	run "$STATUS" --json
	assert_failure 3
	json_expect active=false daemon.running=false daemon.pid=null daemon.state='"stopped"' \
		counters.reads=null swap.active=false nbd_device=null
}

@test "status: a stale status file from a dead daemon is called stale" {
	mkdir -p "$RUNDIR"
	printf '%s\n' pid=999999 state=serving backend=cuda >"$RUNDIR/status"
	run "$STATUS"
	assert_failure 3
	assert_line "  daemon:    not running (stale status file from pid 999999)"
	refute_line --partial "requests:"
}

@test "status: swap detached for sleep is NOT active and says why" {
	DPID=$(start_stub_daemon)
	write_state "$DPID"
	sed -i '/^chunk\./d; s/^sleeping=0/sleeping=1/' "$STATE"
	run "$STATUS"
	assert_failure 3
	assert_line "vram-swap: NOT active"
	assert_line "  swap:      off (detached for sleep)"
	assert_line "  nbd:       none attached"
}

@test "status: counters sharing one line, and odd characters, are handled" {
	DPID=$(start_stub_daemon)
	write_state "$DPID"
	swap_on_nbd0
	printf '%s\n' pid="$DPID" state=serving backend=cuda 'device=GPU "quoted" \ name' \
		"reads=7 writes=8 trims=9 zeroes=1 flushes=2" size_bytes=oops >"$RUNDIR/status"
	run "$STATUS" --json
	assert_success
	json_expect counters.trims=9 counters.reads=7 'gpu.name="GPU \"quoted\" \\ name"' \
		export.size_bytes=null
}

@test "status: the status file of the daemon before compression (an upgrade not yet restarted) is read as such" {
	DPID=$(start_stub_daemon)
	write_state "$DPID"
	swap_on_nbd0
	printf '%s\n' pid="$DPID" state=serving backend=cuda export=vram-swap socket=/x \
		size_bytes=67108864 used_bytes=4096 stored_pages=3 same_pages=2 clients=1 \
		"reads=3 writes=5 trims=1 zeroes=0 flushes=2" gpus=1 \
		"gpu.0=12884901888 85520809984 67108864 17104161996 1 1 NVIDIA H100 80GB HBM3" \
		"chunk.0=0 67108864 4096 3 2 1 vram-swap.0" >"$RUNDIR/status"
	run "$STATUS" --json
	assert_success
	json_expect chunks.0.gpu=0 chunks.0.size_bytes=67108864 chunks.0.used_bytes=4096 \
		chunks.0.stored_pages=3 chunks.0.same_pages=2 chunks.0.compr_bytes=null \
		chunks.0.export_bytes=null export.compr_bytes=null export.export_bytes=null \
		export.compress=null export.ratio=3.0 counters.full_writes=null gpus.0.chunks=1
	run "$STATUS"
	assert_success
	refute_output --partial "compress:"
	assert_line "  chunk 0:  GPU 0, 64.0 MiB, 4.0 KiB in use, 3 pages stored, 1 client(s), /dev/nbd0 (swap)"
}

@test "status: a status file the daemon stopped rewriting is flagged" {
	DPID=$(start_stub_daemon)
	write_state "$DPID"
	swap_on_nbd0
	run "$STATUS"
	refute_output --partial "warning:"
	touch -d '-1 minute' "$RUNDIR/status"
	run "$STATUS"
	assert_success
	assert_line --regexp '^  warning:   the status file was last written (6[0-9]) s ago; the daemon may be stuck$'
	run "$STATUS" --json
	json_expect daemon.running=true
	[[ $output =~ \"status_age_s\":\ (6[0-9]) ]]
}

@test "status: swap listed under a foreign path is reported in use, from the kernel's claim" {
	pid=$(start_stub_daemon)
	DPID=$pid
	write_state "$pid" systemd
	printf '/nbd0\tpartition\t65532\t4096\t1000\n' >>"$T/proc/swaps"
	run "$STATUS"
	assert_success
	assert_line "vram-swap: active"
	assert_output --partial "the kernel holds /dev/nbd0, but /proc/swaps lists it under a path"
	run "$STATUS" --json
	assert_success
	json_expect active=true swap.active=true swap.listed=false
}

@test "status: a record written by the old version reads its first chunk like any other" {
	DPID=$(start_stub_daemon)
	write_old_state "$DPID"
	swap_on_nbd0
	run "$STATUS"
	assert_success
	assert_line "vram-swap: active"
	assert_line "  nbd:       /dev/nbd0 (attached, 4 connection(s))"
	assert_line "  chunk 0:  GPU 0, 64.0 MiB, 4.0 KiB in use, 3 pages stored, 1 client(s), /dev/nbd0 (swap)"
}
