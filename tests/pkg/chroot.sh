# shellcheck shell=bash
# make_root DIR: a throwaway root in which dpkg runs the package's maintainer
# scripts for real (dpkg --root chroots into it). It holds this host's own
# copies of what those scripts use (dash, bash for vram-swap-setup, coreutils, grep, sed, perl-base and
# init-system-helpers' deb-systemd-helper) plus the libraries they load,
# and a dpkg database saying the package's dependencies are installed.
# Why not debootstrap: it downloads a whole system (minutes, network); this
# takes a second and runs the same maintainer scripts with the same tools.
# Recording stubs stand in for what must not run here: systemctl,
# nvidia-smi and friends, modprobe, swapon/swapoff, nbd-client, and a fake
# libcuda.so.1 that records any process loading it. Their log is
# DIR/calls.log.
ROOT_PKGS="dash bash coreutils grep sed findutils debianutils diffutils perl-base init-system-helpers"

make_root() {
	local r=$1 p f
	mkdir -p "$r"/usr/{bin,sbin,lib,lib64} "$r"/{etc,tmp,var/lib/dpkg/info,var/lib/dpkg/updates,dev,proc,run/systemd/system}
	ln -s usr/bin "$r/bin"; ln -s usr/sbin "$r/sbin"
	ln -s usr/lib "$r/lib"; ln -s usr/lib64 "$r/lib64"
	chmod 1777 "$r/tmp"
	for p in $ROOT_PKGS; do
		dpkg-query -L "$p"
	done | grep -vE '^/usr/share/(doc|man|locale|info|lintian)/' | sort -u |
	while read -r f; do
		[ -d "$f" ] && [ ! -L "$f" ] && continue
		[ -e "$f" ] || [ -L "$f" ] || continue
		mkdir -p "$r$(dirname "$f")"
		cp -a "$f" "$r$f"
	done
	# Shared libraries of every program copied, and the loader.
	find "$r/usr/bin" "$r/usr/sbin" -type f -perm -u+x -print0 |
		xargs -0 ldd 2>/dev/null | grep -oE '/[^ ]+\.so[^ ]*' | sort -u |
	while read -r f; do
		[ -e "$r$f" ] && continue
		mkdir -p "$r$(dirname "$f")"
		cp -L "$f" "$r$f"
	done
	# The daemon's own libraries (it is installed later, by dpkg): the
	# files of the packages the .deb depends on for them.
	dpkg-query -L liblz4-1 libzstd1 | while read -r f; do
		if [ -f "$f" ] && [ ! -e "$r$f" ]; then
			mkdir -p "$r$(dirname "$f")"
			cp -a "$f" "$r$f"
		fi
	done
	# Where mknod is not allowed, a plain file serves as a sink as well.
	mknod -m 666 "$r/dev/null" c 1 3 2>/dev/null || install -m 666 /dev/null "$r/dev/null"
	cp /etc/passwd /etc/group "$r/etc/"
	: > "$r/calls.log"; chmod 666 "$r/calls.log"

	for p in systemctl nvidia-smi nvidia-modprobe nvidia-persistenced nvidia-debugdump \
	         modprobe swapon swapoff nbd-client; do
		printf '#!/bin/sh\necho "%s $*" >> /calls.log\n' "$p" > "$r/usr/bin/$p"
		chmod 755 "$r/usr/bin/$p"
		ln -s "../bin/$p" "$r/usr/sbin/$p"
	done
	local libdir
	libdir=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)
	mkdir -p "$r$libdir"
	printf '%s\n' '#include <stdio.h>' \
		'__attribute__((constructor)) static void seen(void)' \
		'{ FILE *f = fopen("/calls.log", "a"); if (f) { fputs("libcuda.so.1 loaded\n", f); fclose(f); } }' \
		'int cuInit(unsigned f) { (void)f; return 100; }' > "$WORK/fakecuda.c"
	cc -shared -fPIC -o "$r$libdir/libcuda.so.1" "$WORK/fakecuda.c"
	cp "$r$libdir/libcuda.so.1" "$r$libdir/libnvidia-ml.so.1"

	# The dpkg database: this host's records of the packages copied in and
	# of the package's dependencies.
	# shellcheck disable=SC2086 # a list of package names
	dpkg-query -s $ROOT_PKGS libc6 liblz4-1 libzstd1 kmod nbd-client > "$r/var/lib/dpkg/status"
	for p in $ROOT_PKGS libc6 liblz4-1 libzstd1 kmod nbd-client; do
		p=$(dpkg-query -W -f='${binary:Package}' "$p")
		dpkg-query -L "$p" > "$r/var/lib/dpkg/info/$p.list"
	done
	: > "$r/var/lib/dpkg/available"
}

# Helpers for a root made by make_root, named by $R.
# calls: what the stubs recorded since the last mark (the log keeps all).
mark() { mark_at=$(wc -l < "$R/calls.log"); }
calls() { tail -n +"$((mark_at + 1))" "$R/calls.log"; }
fake_daemon() { mkdir -p "$R/proc/4242"; echo vram-swapd > "$R/proc/4242/comm"; }
# tier_record: what setup and the fake daemon leave in /run for a tier
# whose pages cannot outlive the daemon.
tier_record() {
	mkdir -p "$R/run/vram-swap"
	printf '%s\n' mode=systemd pid=4242 chunk.0=/dev/nbd0 > "$R/run/vram-swap/setup.state"
	printf '%s\n' pid=4242 state=serving crash_safe=no \
		"crash_safe_why=GPU 0 cannot export its memory as a file descriptor" > "$R/run/vram-swap/status"
}
teardown_stub() {	# teardown_stub EXIT: records its call, stops the fake daemon on success
	printf '#!/bin/sh\necho "vram-swap-teardown $*" >> /calls.log\n[ %s -eq 0 ] && rm -rf /proc/4242\nexit %s\n' "$1" "$1" \
		> "$R/usr/sbin/vram-swap-teardown"
}
