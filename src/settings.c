/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "settings.h"

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "backend.h"
#include "codec.h"
#include "config.h"
#include "unixsock.h"

/* Whole-string match of an extended regular expression. */
static bool matches(const char *v, const char *re)
{
	regex_t r;
	if (regcomp(&r, re, REG_EXTENDED | REG_NOSUB))
		return false;
	bool ok = regexec(&r, v, 0, NULL, 0) == 0;
	regfree(&r);
	return ok;
}

/* vs_setting_check refused anything that does not fit. */
static void copy(char norm[VS_VALUE_MAX], const char *v)
{
	memcpy(norm, v, strlen(v) + 1);
}

/* A size in its shortest exact form: 8589934592, 8g and 8GiB are all 8G. */
static void size_norm(char norm[VS_VALUE_MAX], const struct vs_size *s)
{
	static const char units[] = "KMGT";
	if (s->percent) {
		snprintf(norm, VS_VALUE_MAX, "%u%%", s->percent);
		return;
	}
	uint64_t v = s->bytes;
	int u = -1;
	while (u < 3 && v % 1024 == 0) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(norm, VS_VALUE_MAX, "%llu", (unsigned long long)v);
	else
		snprintf(norm, VS_VALUE_MAX, "%llu%c", (unsigned long long)v, units[u]);
}

static const char *check_size_pct(const char *v, char norm[VS_VALUE_MAX])
{
	struct vs_size s;
	const char *why;
	if (!matches(v, "^[0-9]+(%|[KkMmGgTt]([iI][bB])?)?$"))
		return "expected a size such as 8G, 512M, 1048576, or a percentage of "
		       "free VRAM such as 75%";
	if ((why = vs_parse_size(v, true, &s)))
		return why;
	size_norm(norm, &s);
	return NULL;
}

static const char *check_size(const char *v, char norm[VS_VALUE_MAX])
{
	struct vs_size s;
	const char *why;
	if (!matches(v, "^[0-9]+([KkMmGgTt]([iI][bB])?)?$"))
		return "expected a size such as 1G, 512M or 1048576 (suffixes K, M, G, T)";
	if ((why = vs_parse_size(v, false, &s)))
		return why;
	size_norm(norm, &s);
	return NULL;
}

#define ONE_GPU "([0-9]{1,3}|GPU-[0-9a-fA-F-]{8,64}|" \
                "([0-9a-fA-F]{4,8}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\\.[0-7])"

static const char *check_device(const char *v, char norm[VS_VALUE_MAX])
{
	if (!matches(v, "^(all|" ONE_GPU "(," ONE_GPU "){0,7})$"))
		return "expected all, or a GPU index (0), a UUID (GPU-...) or a PCI bus id "
		       "(0000:65:00.0), or up to 8 of them separated by commas";
	copy(norm, v);
	return NULL;
}

static const char *check_reserve(const char *v, char norm[VS_VALUE_MAX])
{
	struct vs_size s;
	const char *why;
	if (!strcmp(v, "0")) {
		copy(norm, v);
		return NULL;
	}
	if (!matches(v, "^[0-9]+(%|[KkMmGgTt]([iI][bB])?)?$"))
		return "expected 0, a size such as 2G, or a percentage of each GPU's memory "
		       "such as 20%";
	if ((why = vs_parse_size(v, true, &s)))
		return why;
	if (s.percent == 100)
		return "a reserve of 100% leaves nothing to use";
	size_norm(norm, &s);
	return NULL;
}

static const char *check_chunk(const char *v, char norm[VS_VALUE_MAX])
{
	if (!strcmp(v, "auto")) {
		copy(norm, v);
		return NULL;
	}
	const char *why = check_size(v, norm);
	if (why)
		return why;
	struct vs_size s;
	vs_parse_size(v, false, &s);
	if (s.bytes < (64ull << 20) || s.bytes % (2ull << 20))
		return "expected auto, or a multiple of 2M of at least 64M";
	return NULL;
}

static bool number(const char *v, unsigned lo, unsigned hi, char norm[VS_VALUE_MAX]);

static const char *check_grow_delay(const char *v, char norm[VS_VALUE_MAX])
{
	return number(v, 0, 86400, norm) ? NULL : "expected seconds from 0 to 86400";
}

static const char *check_restart_wait(const char *v, char norm[VS_VALUE_MAX])
{
	return number(v, 1, 3600, norm) ? NULL : "expected seconds from 1 to 3600";
}

static const char *check_on_battery(const char *v, char norm[VS_VALUE_MAX])
{
	if (strcmp(v, "keep") && strcmp(v, "release"))
		return "expected keep or release";
	copy(norm, v);
	return NULL;
}

static const char *check_compress(const char *v, char norm[VS_VALUE_MAX])
{
	unsigned alg;
	if (vs_alg_find(v, &alg))
		return "expected off, lz4 or zstd";
	copy(norm, v);
	return NULL;
}

static const char *check_ratio(const char *v, char norm[VS_VALUE_MAX])
{
	return number(v, 1, 4, norm) ? NULL : "expected a whole number from 1 to 4";
}

static const char *check_backend(const char *v, char norm[VS_VALUE_MAX])
{
	static char why[128];
	if (!vs_backend_find(v)) {
		vs_backend_names(why, sizeof why, "expected ", " or ", false);
		return why;
	}
	copy(norm, v);
	return NULL;
}

/* A decimal number from lo to hi (leading zeros allowed, dropped). */
static bool number(const char *v, unsigned lo, unsigned hi, char norm[VS_VALUE_MAX])
{
	if (!matches(v, "^[0-9]{1,6}$"))
		return false;
	unsigned long n = strtoul(v, NULL, 10);
	if (n < lo || n > hi)
		return false;
	snprintf(norm, VS_VALUE_MAX, "%lu", n);
	return true;
}

static const char *check_priority(const char *v, char norm[VS_VALUE_MAX])
{
	return number(v, 0, 32767, norm) ? NULL : "expected a swap priority from 0 to 32767";
}

static const char *check_connections(const char *v, char norm[VS_VALUE_MAX])
{
	return number(v, 1, 64, norm) ? NULL
	       : "expected a number of nbd connections from 1 to 64";
}

static const char *check_max_clients(const char *v, char norm[VS_VALUE_MAX])
{
	return number(v, 1, 64, norm) ? NULL : "expected a number of clients from 1 to 64";
}

static const char *check_nbd_device(const char *v, char norm[VS_VALUE_MAX])
{
	if (!matches(v, "^(auto|(/dev/)?nbd[0-9]{1,4})$"))
		return "expected auto or an nbd device such as /dev/nbd0";
	copy(norm, v);
	return NULL;
}

static const char *check_on_off(const char *v, char norm[VS_VALUE_MAX])
{
	if (strcmp(v, "on") && strcmp(v, "off"))
		return "expected on or off";
	copy(norm, v);
	return NULL;
}

_Static_assert(sizeof ((struct sockaddr_un *)0)->sun_path == VS_SUN_PATH_LEN + 1,
               "VS_SUN_PATH_LEN is the longest socket path");

/* The daemon listens on this path and on its control socket next to it
 * (vs_ctl_path names it): both must fit a Unix socket address. */
static const char *check_socket(const char *v, char norm[VS_VALUE_MAX])
{
	struct sockaddr_un sa;
	char ctl[sizeof sa.sun_path];
	size_t n = strlen(v);
	if (!matches(v, "^/[A-Za-z0-9._/+@:-]+$") || v[n - 1] == '/' ||
	    strstr(v, "/../") || (n >= 3 && !strcmp(v + n - 3, "/..")))
		return "expected an absolute path of a socket file (letters, digits "
		       "and ._/+@:- only)";
	if (n >= sizeof sa.sun_path)
		return "longer than the " VS_STR(VS_SUN_PATH_LEN) " bytes a Unix socket path "
		       "may have";
	if (vs_ctl_path(v, ctl, sizeof ctl))
		return "the daemon's control socket next to it (.sock becomes .ctl, else .ctl "
		       "is added) would be longer than the " VS_STR(VS_SUN_PATH_LEN) " bytes a "
		       "Unix socket path may have";
	copy(norm, v);
	return NULL;
}

static const char *check_export(const char *v, char norm[VS_VALUE_MAX])
{
	/* Empty is the default export; the defaults file cannot say it. */
	if (*v && !matches(v, "^[A-Za-z0-9._-]{1,64}$"))
		return "expected 1 to 64 letters, digits, '.', '_' or '-'";
	copy(norm, v);
	return NULL;
}

static const char *check_status_file(const char *v, char norm[VS_VALUE_MAX])
{
	if (*v && v[0] != '/')
		return "must be an absolute path or empty";
	copy(norm, v);
	return NULL;
}

/* ---- into struct vs_config: one function per type of field ------------ */

static void store_str(const char **f, const char *v) { *f = v; }
static void store_uint(unsigned *f, const char *v) { *f = (unsigned)strtoul(v, NULL, 10); }
static void store_on(bool *f, const char *v) { *f = !strcmp(v, "on"); }
static void store_release(bool *f, const char *v) { *f = !strcmp(v, "release"); }

/* A size, a percentage, or 0 (the reserve's none). */
static void store_size(struct vs_size *f, const char *v)
{
	*f = (struct vs_size){ 0 };
	if (strcmp(v, "0"))
		vs_parse_size(v, true, f);
}

/* Bytes, or 0 for auto. */
static void store_bytes(uint64_t *f, const char *v)
{
	struct vs_size s = { 0 };
	if (strcmp(v, "auto"))
		vs_parse_size(v, false, &s);
	*f = s.bytes;
}

/* Each row's store, typed by its field (a mismatch does not compile). */
#define VS_STORE_ALL(id, field, store) \
	static void store_##id(struct vs_config *c, const char *v) { store(&c->field, v); }
#define VS_STORE_DAEMON VS_STORE_ALL
#define VS_STORE_FILE(id, field, store)
#define VS_X_STORE(id, env, flag, sh, arg, def, check, where, type, field, store, help) \
	VS_STORE_##where(id, field, store)
VS_SETTINGS(VS_X_STORE)

#define VS_ROW_STORE_ALL(id) store_##id
#define VS_ROW_STORE_DAEMON(id) store_##id
#define VS_ROW_STORE_FILE(id) NULL
#define VS_IN_FILE_ALL true
#define VS_IN_FILE_DAEMON false
#define VS_IN_FILE_FILE true
#define VS_X_ROW(id, env, flag, sh, arg, def, check, where, type, field, store, help) \
	[VS_K_##id] = { env, flag, sh, arg, def, VS_IN_FILE_##where, check, \
	                VS_ROW_STORE_##where(id), help },

const struct vs_setting vs_settings[VS_NKEYS] = {
	VS_SETTINGS(VS_X_ROW)
};

const char *vs_setting_check(enum vs_key k, const char *v, char norm[VS_VALUE_MAX])
{
	/* No value is ever cut short: what does not fit is refused here. */
	if (strlen(v) > VS_VALUE_LEN)
		return "longer than the " VS_STR(VS_VALUE_LEN) " bytes a setting may have";
	return vs_settings[k].check(v, norm);
}

/* ---- the defaults file ---------------------------------------------------- */

static int key_of(const char *name)
{
	for (int k = 0; k < VS_NKEYS; k++)
		if (vs_settings[k].in_file && !strcmp(vs_settings[k].env, name))
			return k;
	return -1;
}

static void bad_line(const char *path, unsigned line, const char *key, const char *val,
                     const char *why)
{
	fprintf(stderr, "vram-swapd: %s:%u: %s='%s': %s\n", path, line, key, val, why);
}

/* One line of the file (without its line feed): "KEY=value", "# comment"
 * or blank. The file is data for systemd's EnvironmentFile= (systemd 252's
 * reading of it) as much as for the scripts, so whatever systemd could
 * read otherwise than the plain line says is refused, never guessed at:
 * a carriage return inside a line (systemd ends the line there), a
 * comment ending in a backslash (systemd 252 takes the next line into
 * the comment, 254 and later do not), quotes other than one pair around
 * the whole value, and spaces, $, ` and \ (systemd drops or joins what
 * a shell would expand or keep). One pair of quotes comes off, as in
 * systemd. A key given twice takes its last value, as in systemd. */
static int parse_line(const char *path, unsigned lineno, char *line,
                      char vals[VS_NKEYS][VS_VALUE_MAX])
{
	size_t n = strlen(line);
	while (n && line[n - 1] == '\r')
		line[--n] = 0;
	if (strchr(line, '\r')) {
		fprintf(stderr, "vram-swapd: %s:%u: a carriage return inside the line: systemd "
		        "ends the line there\n", path, lineno);
		return -1;
	}
	char *p = line + strspn(line, " \t");
	if (!*p)
		return 0;
	if (*p == '#') {
		if (line[n - 1] == '\\') {
			fprintf(stderr, "vram-swapd: %s:%u: a comment ending in a backslash: "
			        "systemd 252 reads the next line as part of the comment, later "
			        "versions do not; remove the backslash\n", path, lineno);
			return -1;
		}
		return 0;
	}
	char *eq = strchr(p, '=');
	size_t klen = eq ? strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                             "0123456789_") : 0;
	if (!eq || !klen || p + klen != eq || (*p >= '0' && *p <= '9')) {
		fprintf(stderr, "vram-swapd: %s:%u: not a KEY=value line: %s\n", path, lineno, line);
		return -1;
	}
	*eq = 0;
	char *val = eq + 1;
	size_t vlen = strlen(val);
	if (vlen >= 2 && (val[0] == '"' || val[0] == '\'') && val[vlen - 1] == val[0]) {
		val[vlen - 1] = 0;
		val++;
	}
	int k = key_of(p);
	if (k < 0) {
		fprintf(stderr, "vram-swapd: %s:%u: unknown key %s (value '%s'); known keys:",
		        path, lineno, p, val);
		for (int i = 0; i < VS_NKEYS; i++)
			if (vs_settings[i].in_file)
				fprintf(stderr, " %s", vs_settings[i].env);
		fputc('\n', stderr);
		return -1;
	}
	char why[160];
	const char *w = NULL;
	if (!*val) {
		snprintf(why, sizeof why, "empty; comment the line out to use the default (%s)",
		         vs_settings[k].def);
		w = why;
	} else if (strpbrk(val, " \t\"'$`\\")) {
		w = "quotes, spaces, $, ` and \\ are not allowed: this file is read by "
		    "systemd and by the scripts alike, without expansion";
	} else {
		w = vs_setting_check((enum vs_key)k, val, vals[k]);
	}
	if (w) {
		bad_line(path, lineno, p, val, w);
		return -1;
	}
	return 0;
}

/* Far more than any real file, far less than systemd reads. */
#define VS_FILE_MAX (1u << 20)

/* The whole file, NUL-terminated, in *buf (to free); its size in *len. */
static int read_file(const char *path, char **buf, size_t *len)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "vram-swapd: cannot read %s: %s\n", path, strerror(errno));
		return -1;
	}
	char *b = malloc(VS_FILE_MAX + 2);
	size_t n = b ? fread(b, 1, VS_FILE_MAX + 1, f) : 0;
	int err = ferror(f) ? errno : 0;
	fclose(f);
	if (!b || err) {
		fprintf(stderr, "vram-swapd: cannot read %s: %s\n", path, strerror(b ? err : ENOMEM));
		free(b);
		return -1;
	}
	if (n > VS_FILE_MAX) {
		fprintf(stderr, "vram-swapd: %s: larger than %u bytes: not a defaults file\n",
		        path, VS_FILE_MAX);
		free(b);
		return -1;
	}
	b[n] = 0;
	*buf = b;
	*len = n;
	return 0;
}

/* Every line of the file, whatever its length: a line is what systemd
 * reads as one, never a buffer's worth. */
static int parse_file(const char *path, char vals[VS_NKEYS][VS_VALUE_MAX])
{
	char *buf;
	size_t len;
	if (read_file(path, &buf, &len))
		return -1;
	int bad = 0;
	unsigned lineno = 1;
	const char *nul = memchr(buf, 0, len);
	if (nul) {
		for (const char *q = buf; q < nul; q++)
			lineno += *q == '\n';
		fprintf(stderr, "vram-swapd: %s:%u: a NUL byte: systemd refuses to read a file "
		        "holding one\n", path, lineno);
		free(buf);
		return -1;
	}
	for (char *line = buf; line < buf + len; lineno++) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		if (parse_line(path, lineno, line, vals))
			bad = 1;
		line = nl ? nl + 1 : buf + len;
	}
	free(buf);
	return bad ? -1 : 0;
}

/* Checks between keys, once each is good on its own. */
static int check_combined(const char *path, char vals[VS_NKEYS][VS_VALUE_MAX])
{
	if (strtoul(vals[VS_K_CONNECTIONS], NULL, 10) > strtoul(vals[VS_K_MAX_CLIENTS], NULL, 10)) {
		fprintf(stderr, "vram-swapd: %s: VRAM_SWAP_CONNECTIONS='%s' is more than "
		        "VRAM_SWAP_MAX_CLIENTS='%s' lets the daemon accept\n", path,
		        vals[VS_K_CONNECTIONS], vals[VS_K_MAX_CLIENTS]);
		return -1;
	}
	return 0;
}

int vs_check_config(const char *path)
{
	char vals[VS_NKEYS][VS_VALUE_MAX];
	int bad = 0;
	for (int k = 0; k < VS_NKEYS; k++)
		if (vs_setting_check((enum vs_key)k, vs_settings[k].def, vals[k]))
			abort();   /* a default that fails its own check */
	if (path && (parse_file(path, vals) || check_combined(path, vals)))
		bad = 1;
	if (bad)
		return VS_EXIT_USAGE;
	for (int k = 0; k < VS_NKEYS; k++)
		if (vs_settings[k].in_file)
			printf("%s=%s\n", vs_settings[k].env, vals[k]);
	return VS_EXIT_OK;
}
