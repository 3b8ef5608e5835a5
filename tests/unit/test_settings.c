/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The settings table: each key's check and normal form, and the defaults
 * file as --check-config reads it. tests/bats/defaults.bats holds the
 * scripts to the same verdicts. */
#include <dlfcn.h>
#include <glob.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "unixsock.h"
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

static char path[] = "/tmp/vs-settings-XXXXXX";

/* Runs --check-config on a file (path) holding len bytes of text; returns
 * its exit code and what it printed (stdout and stderr together) in out. */
static int check_file_n(const char *text, size_t len, char *out, size_t n)
{
	strcpy(path, "/tmp/vs-settings-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len)
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
	return rc;
}

static int check_file(const char *text, char *out, size_t n)
{
	int rc = check_file_n(text, strlen(text), out, n);
	unlink(path);
	return rc;
}

/* ---- what systemd reads ---------------------------------------------------
 * systemd's own parser of EnvironmentFile= (libsystemd-shared, as Debian 12
 * ships it with systemd 252), where it is installed: for a file that
 * --check-config accepts, every key must have the value the daemon gets
 * from systemd (an absent or empty one: the default). */
static int (*sd_load_env_file)(FILE *f, const char *fname, char ***ret);
static bool (*sd_assignment_is_valid)(const char *e);

static void systemd_open(void)
{
	glob_t g;
	if (glob("/usr/lib/*/systemd/libsystemd-shared-*.so", 0, NULL, &g) &&
	    glob("/usr/lib*/systemd/libsystemd-shared-*.so", 0, NULL, &g)) {
		fprintf(stderr, "  test_settings: no libsystemd-shared here: the file is not "
		        "compared with systemd's reading of it\n");
		return;
	}
	void *h = dlopen(g.gl_pathv[0], RTLD_NOW);
	if (h) {
		*(void **)&sd_load_env_file = dlsym(h, "load_env_file");
		*(void **)&sd_assignment_is_valid = dlsym(h, "env_assignment_is_valid");
	}
	CHECK(h && sd_load_env_file && sd_assignment_is_valid);
	if (!sd_assignment_is_valid)
		sd_load_env_file = NULL;
	else
		printf("  test_settings: comparing with %s\n", g.gl_pathv[0]);
	globfree(&g);
}

/* --check-config on len bytes of text; if it accepts them, systemd must
 * give the daemon the same values. Returns the exit code. */
static int agrees(const char *text, size_t len, char *out, size_t n)
{
	int rc = check_file_n(text, len, out, n);
	char **env = NULL;
	int r = sd_load_env_file && rc == VS_EXIT_OK ? sd_load_env_file(NULL, path, &env) : 0;
	unlink(path);
	if (!sd_load_env_file || rc != VS_EXIT_OK)
		return rc;
	/* EnvironmentFile=- ignores a file systemd cannot read. */
	CHECK_EQ(r, 0);
	for (int k = 0; k < VS_NKEYS; k++) {
		if (!vs_settings[k].in_file)
			continue;
		const char *v = vs_settings[k].def;
		size_t kl = strlen(vs_settings[k].env);
		for (char **e = env; e && *e; e++)
			if (sd_assignment_is_valid(*e) && !strncmp(*e, vs_settings[k].env, kl) &&
			    (*e)[kl] == '=' && (*e)[kl + 1])
				v = *e + kl + 1;
		char norm[VS_VALUE_MAX], line[VS_VALUE_MAX + 64];
		const char *why = vs_setting_check((enum vs_key)k, v, norm);
		snprintf(line, sizeof line, "%s=%s\n", vs_settings[k].env, norm);
		CHECK(!why && strstr(out, line));
		if (why || !strstr(out, line))
			fprintf(stderr, "  systemd reads %s='%s', --check-config says:\n%s",
			        vs_settings[k].env, v, out);
	}
	for (char **e = env; e && *e; e++)
		free(*e);
	free(env);
	return rc;
}

int main(void)
{
	char norm[VS_VALUE_MAX], out[16384];
	const char *why;
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		why = vs_setting_check(good[i].k, good[i].in, norm);
		CHECK(why == NULL && !strcmp(norm, good[i].norm));
		if (why || strcmp(norm, good[i].norm))
			fprintf(stderr, "  %s: %s -> %s (%s)\n", vs_settings[good[i].k].env,
			        good[i].in, why ? "refused" : norm, why ? why : "");
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why = vs_setting_check(bad[i].k, bad[i].in, norm);
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

	/* No value is cut short: eight GPU UUIDs are one value. */
	char uuids[8 * 41] = "";
	for (int i = 0; i < 8; i++)
		snprintf(uuids + strlen(uuids), sizeof uuids - strlen(uuids), "%sGPU-%08x-0000-1111-"
		         "2222-33334444555%d", i ? "," : "", i, i);
	CHECK(vs_setting_check(VS_K_DEVICE, uuids, norm) == NULL && !strcmp(norm, uuids));
	char huge[VS_VALUE_MAX + 1];
	memset(huge, '0', sizeof huge - 1);
	huge[sizeof huge - 1] = 0;
	CHECK(strstr(vs_setting_check(VS_K_PRIORITY, huge, norm), "longer than the 1023 bytes"));

	/* The socket path and the control socket next to it both fit a Unix
	 * socket address, by the daemon's own rule (vs_ctl_path). */
	char sock[128], ctl[108];
	snprintf(sock, sizeof sock, "/run/%097d.sock", 0);   /* 107 bytes: .ctl is shorter */
	CHECK(vs_setting_check(VS_K_SOCKET, sock, norm) == NULL && !vs_ctl_path(sock, ctl, sizeof ctl));
	snprintf(sock, sizeof sock, "/run/%097d.sockx", 0);
	CHECK(strstr(vs_setting_check(VS_K_SOCKET, sock, norm), "longer than the 107 bytes"));
	snprintf(sock, sizeof sock, "/run/%099d", 0);   /* 104 bytes, and .ctl: 108 */
	CHECK(vs_ctl_path(sock, ctl, sizeof ctl) != 0);
	why = vs_setting_check(VS_K_SOCKET, sock, norm);
	CHECK(why && strstr(why, "control socket") && strstr(why, "107 bytes"));
	snprintf(sock, sizeof sock, "/run/%098d", 0);
	CHECK(vs_setting_check(VS_K_SOCKET, sock, norm) == NULL && !vs_ctl_path(sock, ctl, sizeof ctl));

	/* The file as systemd reads it. */
	systemd_open();
	static char text[16384];
	/* A line is never split: a comment of 4095 bytes and what follows it on
	 * the same line stay a comment. */
	int n = snprintf(text, sizeof text, "#%04094dVRAM_SWAP_EXPORT=foo\n", 0);
	CHECK_EQ(agrees(text, (size_t)n, out, sizeof out), VS_EXIT_OK);
	CHECK(strstr(out, "VRAM_SWAP_EXPORT=vram-swap\n"));
	n = snprintf(text, sizeof text, "VRAM_SWAP_EXPORT=%05000d\n", 0);
	CHECK_EQ(check_file(text, out, sizeof out), VS_EXIT_USAGE);
	CHECK(strstr(out, ":1: VRAM_SWAP_EXPORT='000") && strstr(out, "longer than the 1023 bytes"));
	/* A NUL byte: systemd refuses the file, which EnvironmentFile=- then
	 * ignores. */
	static const char nul[] = "# x\nVRAM_SWAP_SIZE=8G\0junk\n";
	CHECK_EQ(agrees(nul, sizeof nul - 1, out, sizeof out), VS_EXIT_USAGE);
	CHECK(strstr(out, ":2: a NUL byte"));
	/* systemd 252 takes the next line into a comment ending in a backslash. */
	CHECK_EQ(agrees("# note \\\nVRAM_SWAP_EXPORT=foo\n", sizeof "# note \\\nVRAM_SWAP_EXPORT=foo\n" - 1, out, sizeof out), VS_EXIT_USAGE);
	CHECK(strstr(out, ":1: a comment ending in a backslash"));
	/* systemd ends a line at a carriage return. */
	CHECK_EQ(agrees("# note\rVRAM_SWAP_EXPORT=foo\n", sizeof "# note\rVRAM_SWAP_EXPORT=foo\n" - 1, out, sizeof out), VS_EXIT_USAGE);
	CHECK(strstr(out, ":1: a carriage return inside the line"));
	CHECK_EQ(agrees("VRAM_SWAP_SIZE=8G\rVRAM_SWAP_EXPORT=foo\n", sizeof "VRAM_SWAP_SIZE=8G\rVRAM_SWAP_EXPORT=foo\n" - 1, out, sizeof out),
	         VS_EXIT_USAGE);
	/* Spaces around '=' or the value, which systemd drops, are refused. */
	CHECK_EQ(check_file("VRAM_SWAP_SIZE = 8G\n", out, sizeof out), VS_EXIT_USAGE);
	CHECK(strstr(out, ":1: not a KEY=value line"));
	CHECK_EQ(check_file("VRAM_SWAP_SIZE=8G \n", out, sizeof out), VS_EXIT_USAGE);
	CHECK_EQ(check_file("VRAM_SWAP_SIZE=\"8\"G\n", out, sizeof out), VS_EXIT_USAGE);
	CHECK_EQ(check_file("VRAM_SWAP_SIZE=8\\\nG\n", out, sizeof out), VS_EXIT_USAGE);
	CHECK_EQ(check_file("VRAM_SWAP_EXPORT='a\nb'\n", out, sizeof out), VS_EXIT_USAGE);

	/* What both read alike. */
	static const char *const same[] = {
		"# comment\n\n  VRAM_SWAP_SIZE=\"8g\"\r\nVRAM_SWAP_PRIORITY='5'\n",
		"VRAM_SWAP_SIZE=8G\nVRAM_SWAP_SIZE=4G\n",          /* the last one wins */
		"\tVRAM_SWAP_EXPORT=x\r\r\n# \xff\nVRAM_SWAP_DEVICE=all",
		"# a \\ inside a comment\nVRAM_SWAP_SOCKET=/run/a.sock\n",
		text,
	};
	snprintf(text, sizeof text, "VRAM_SWAP_BACKEND=host\nVRAM_SWAP_DEVICE=%s\n", uuids);
	for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
		CHECK_EQ(agrees(same[i], strlen(same[i]), out, sizeof out), VS_EXIT_OK);
	CHECK_EQ(check_file(same[1], out, sizeof out), VS_EXIT_OK);
	CHECK(strstr(out, "VRAM_SWAP_SIZE=4G\n"));
	CHECK_EQ(check_file(text, out, sizeof out), VS_EXIT_OK);
	CHECK(strstr(out, uuids));

	if (failures)
		fprintf(stderr, "test_settings: %d failure(s)\n", failures);
	return failures != 0;
}
