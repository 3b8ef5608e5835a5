/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The settings table: each key's check and normal form, and the defaults
 * file as --check-config reads it. tests/bats/defaults.bats holds the
 * scripts to the same verdicts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "settings.h"

static const struct { enum vs_key k; const char *in, *norm; } good[] = {
	{ VS_K_SIZE, "8G", "8G" }, { VS_K_SIZE, "8g", "8G" }, { VS_K_SIZE, "8GiB", "8G" },
	{ VS_K_SIZE, "8589934592", "8G" }, { VS_K_SIZE, "1536M", "1536M" },
	{ VS_K_SIZE, "75%", "75%" }, { VS_K_SIZE, "4096", "4K" }, { VS_K_STEP, "1t", "1T" },
	{ VS_K_MIN_SIZE, "1048576", "1M" }, { VS_K_DEVICE, "0", "0" },
	{ VS_K_DEVICE, "GPU-1b2c3d4e-0000-1111-2222-333344445555",
	  "GPU-1b2c3d4e-0000-1111-2222-333344445555" },
	{ VS_K_DEVICE, "0000:65:00.0", "0000:65:00.0" }, { VS_K_BACKEND, "host", "host" },
	{ VS_K_PRIORITY, "010", "10" }, { VS_K_PRIORITY, "32767", "32767" },
	{ VS_K_CONNECTIONS, "64", "64" }, { VS_K_NBD_DEVICE, "nbd3", "nbd3" },
	{ VS_K_DISCARD, "off", "off" }, { VS_K_SOCKET, "/run/x/y.sock", "/run/x/y.sock" },
	{ VS_K_EXPORT, "a.b_c-9", "a.b_c-9" }, { VS_K_MAX_CLIENTS, "1", "1" },
	{ VS_K_DEVICE, "all", "all" }, { VS_K_DEVICE, "0,1,GPU-1b2c3d4e", "0,1,GPU-1b2c3d4e" },
	{ VS_K_CHUNK, "auto", "auto" }, { VS_K_CHUNK, "2048M", "2G" },
	{ VS_K_RESERVE, "0", "0" }, { VS_K_RESERVE, "1024m", "1G" }, { VS_K_RESERVE, "15%", "15%" },
	{ VS_K_AUTO, "off", "off" }, { VS_K_GROW_DELAY, "007", "7" },
	{ VS_K_ON_BATTERY, "release", "release" },
};

static const struct { enum vs_key k; const char *in, *why; } bad[] = {
	{ VS_K_SIZE, "8GB", "expected a size" }, { VS_K_SIZE, "0", "at least 4096" },
	{ VS_K_SIZE, "1000", "multiple of 4096" }, { VS_K_SIZE, "101%", "1% to 100%" },
	{ VS_K_SIZE, "99999999999T", "too large" }, { VS_K_MIN_SIZE, "50%", "expected a size" },
	{ VS_K_STEP, "-512M", "expected a size" }, { VS_K_DEVICE, "gpu0", "GPU index" },
	{ VS_K_BACKEND, "opencl", "cuda or host" }, { VS_K_PRIORITY, "40000", "0 to 32767" },
	{ VS_K_CONNECTIONS, "0", "1 to 64" }, { VS_K_NBD_DEVICE, "/dev/sda", "nbd device" },
	{ VS_K_DISCARD, "yes", "on or off" }, { VS_K_SOCKET, "run/s", "absolute path" },
	{ VS_K_SOCKET, "/run/../s", "absolute path" }, { VS_K_EXPORT, "a/b", "64 letters" },
	{ VS_K_MAX_CLIENTS, "65", "1 to 64" },
	{ VS_K_DEVICE, "all,0", "GPU index" }, { VS_K_DEVICE, "0,", "GPU index" },
	{ VS_K_CHUNK, "32M", "at least 64M" }, { VS_K_CHUNK, "65M", "multiple of 2M" },
	{ VS_K_RESERVE, "100%", "leaves nothing" }, { VS_K_RESERVE, "-1G", "expected 0, a size" },
	{ VS_K_AUTO, "yes", "on or off" }, { VS_K_GROW_DELAY, "86401", "0 to 86400" },
	{ VS_K_ON_BATTERY, "off", "keep or release" },
};

/* Runs --check-config on a file holding text; returns its exit code and
 * what it printed (stdout and stderr together) in out. */
static int check_file(const char *text, char *out, size_t n)
{
	char path[] = "/tmp/vs-settings-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		return -1;
	close(fd);
	fflush(stdout);
	FILE *cap = tmpfile();
	int o = dup(1), e = dup(2);
	dup2(fileno(cap), 1);
	dup2(fileno(cap), 2);
	int rc = vs_check_config(path);
	fflush(stdout);
	fflush(stderr);
	dup2(o, 1);
	dup2(e, 2);
	close(o);
	close(e);
	rewind(cap);
	size_t got = fread(out, 1, n - 1, cap);
	out[got] = 0;
	fclose(cap);
	unlink(path);
	return rc;
}

int main(void)
{
	char norm[VS_VALUE_MAX], out[4096];
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		const char *why = vs_setting_check(good[i].k, good[i].in, norm);
		CHECK(why == NULL && !strcmp(norm, good[i].norm));
		if (why || strcmp(norm, good[i].norm))
			fprintf(stderr, "  %s: %s -> %s (%s)\n", vs_settings[good[i].k].env,
			        good[i].in, why ? "refused" : norm, why ? why : "");
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *why = vs_setting_check(bad[i].k, bad[i].in, norm);
		CHECK(why && strstr(why, bad[i].why));
	}
	/* Every default passes its own check. */
	for (int k = 0; k < VS_NKEYS; k++)
		CHECK(vs_setting_check((enum vs_key)k, vs_settings[k].def, norm) == NULL);

	CHECK_EQ(check_file("# comment\n\n  VRAM_SWAP_SIZE=\"8g\"\r\nVRAM_SWAP_PRIORITY='5'\n",
	                    out, sizeof out), VS_EXIT_OK);
	CHECK(strstr(out, "VRAM_SWAP_SIZE=8G\n") && strstr(out, "VRAM_SWAP_PRIORITY=5\n"));
	CHECK(strstr(out, "VRAM_SWAP_MIN_SIZE=1G\n") && strstr(out, "VRAM_SWAP_EXPORT=vram-swap\n"));
	CHECK(!strstr(out, "VRAM_SWAP_STATUS_FILE"));

	CHECK_EQ(check_file("VRAM_SWAP_DISCARD=maybe\nVRAM_SWAP_BACKEND=rocm\n", out, sizeof out),
	         VS_EXIT_USAGE);
	CHECK(strstr(out, ":1: VRAM_SWAP_DISCARD='maybe': expected on or off"));
	CHECK(strstr(out, ":2: VRAM_SWAP_BACKEND='rocm'"));
	CHECK(!strstr(out, "VRAM_SWAP_SIZE="));

	CHECK_EQ(check_file("VRAM_SWAP_SIZ=8G\n", out, sizeof out), VS_EXIT_USAGE);
	CHECK(strstr(out, "unknown key VRAM_SWAP_SIZ (value '8G')"));
	CHECK_EQ(check_file("export VRAM_SWAP_SIZE=8G\n", out, sizeof out), VS_EXIT_USAGE);
	CHECK(strstr(out, "not a KEY=value line"));
	CHECK_EQ(check_file("VRAM_SWAP_SIZE=\n", out, sizeof out), VS_EXIT_USAGE);
	CHECK(strstr(out, "empty; comment the line out to use the default (75%)"));
	CHECK_EQ(check_file("VRAM_SWAP_SIZE=$((8))G\n", out, sizeof out), VS_EXIT_USAGE);
	CHECK_EQ(check_file("VRAM_SWAP_CONNECTIONS=9\nVRAM_SWAP_MAX_CLIENTS=8\n", out, sizeof out),
	         VS_EXIT_USAGE);
	CHECK(strstr(out, "is more than VRAM_SWAP_MAX_CLIENTS='8'"));

	if (failures)
		fprintf(stderr, "test_settings: %d failure(s)\n", failures);
	return failures != 0;
}
