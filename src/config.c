/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend.h"
#include "settings.h"

#define MiB (1ULL << 20)

const char *vs_parse_size(const char *s, bool allow_percent, struct vs_size *out)
{
	const char *p = s;
	if (*p < '0' || *p > '9')
		return "expected a size such as 8G, 512M or 1048576 (suffixes K, M, G, T)";
	errno = 0;
	char *end;
	unsigned long long v = strtoull(p, &end, 10);
	if (errno == ERANGE)
		return "too large";
	if (*end == '%') {
		if (!allow_percent)
			return "a percentage is not allowed here";
		if (end[1] != '\0' || v < 1 || v > 100)
			return "a percentage must be 1% to 100%";
		out->percent = (unsigned)v;
		out->bytes = 0;
		return NULL;
	}
	unsigned shift = 0;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	case 't': case 'T': shift = 40; break;
	default:
		return "unknown suffix (use K, M, G or T: binary units)";
	}
	if (shift && end[1] != '\0' && strcasecmp(end + 1, "iB") != 0)
		return "unknown suffix (use K, M, G or T: binary units)";
	if (shift && v > (UINT64_MAX >> shift))
		return "too large";
	v <<= shift;
	if (v == 0)
		return "must be at least 4096 bytes";
	if (v % VS_BLOCK)
		return "must be a multiple of 4096 bytes (the swap page size)";
	out->bytes = v;
	out->percent = 0;
	return NULL;
}

uint64_t vs_size_resolve(const struct vs_size *s, uint64_t free_bytes)
{
	if (!s->percent)
		return s->bytes;
	uint64_t v = free_bytes / 100 * s->percent + free_bytes % 100 * s->percent / 100;
	return v & ~(2 * MiB - 1);
}

/* "-s, --size=SIZE|N%" or "    --min-size=SIZE". */
static void opt_text(char *b, size_t n, const struct vs_setting *st)
{
	if (st->short_opt)
		snprintf(b, n, "-%c, --%s=%s", st->short_opt, st->flag, st->arg);
	else
		snprintf(b, n, "    --%s=%s", st->flag, st->arg);
}

static void usage(FILE *f)
{
	char opt[64], names[128];
	fprintf(f,
"Usage: vram-swapd [OPTION]...\n"
"       vram-swapd --check-config [FILE]\n"
"       vram-swapd [--socket=PATH] --ctl=COMMAND\n"
"Serve GPU memory (or, for tests, host RAM) as an NBD export on a Unix\n"
"socket, for use as a Linux swap device through nbd-client.\n"
"\n");
	for (int k = 0; k < VS_NKEYS; k++) {
		const struct vs_setting *st = &vs_settings[k];
		if (!st->flag)
			continue;
		opt_text(opt, sizeof opt, st);
		fprintf(f, "  %-24s %s\n  %24s %s (default %s)\n", opt, st->help, "", st->env,
		        st->def);
	}
	vs_backend_names(names, sizeof names, "", " and ", true);
	fprintf(f,
"  -v, --verbose            log debug messages\n"
"  -h, --help               show this help\n"
"  -V, --version            show the version\n"
"\n"
"Backends: %s.\n"
"\n"
"--ctl sends COMMAND to the running daemon's control socket (next to its\n"
"export socket; root only) and prints the answer: chunks, gpus, target,\n"
"wait GEN, add [GPU], free CHUNK, cap SIZE|N%%|max.\n"
"\n"
"--check-config checks FILE (normally /etc/default/vram-swap) as systemd and\n"
"the scripts read it and prints every key's normalized value as KEY=value\n"
"lines; without FILE it prints the defaults. A bad value is reported with\n"
"file, line, key and value, and the exit status is 2.\n"
"\n"
"SIZE is bytes, or a number with K, M, G or T (binary units); the result\n"
"must be a multiple of 4096. Percentages are rounded down to 2 MiB.\n"
"A flag wins over its environment variable; an empty variable counts as\n"
"unset, except VRAM_SWAP_STATUS_FILE (not a key of the defaults file).\n"
"\n"
"SIGTERM or SIGINT: stop accepting; while a client is attached keep serving\n"
"until it disconnects (pages in the export would be lost), then exit 0.\n"
"SIGKILL is the only forced exit and loses every page the export holds.\n"
"\n"
"Exit status: 0 clean exit, 1 runtime failure, 2 invalid setting.\n", names);
}

/* One setting, checked and stored by its row; src (flag or environment
 * variable) is part of the error message, so the user knows which file or
 * command line to fix. */
static int apply(struct vs_config *c, enum vs_key k, const char *v, const char *src)
{
	char norm[VS_VALUE_MAX];
	const char *why = vs_setting_check(k, v, norm);
	if (why) {
		fprintf(stderr, "vram-swapd: invalid %s '%s': %s\n", src, v, why);
		return VS_EXIT_USAGE;
	}
	vs_settings[k].store(c, v);
	return VS_EXIT_OK;
}

/* getopt's value for a setting without a short option. */
enum { OPT_KEY = 256, OPT_CTL = OPT_KEY + VS_NKEYS, OPT_CHECK };

int vs_config_load(struct vs_config *c, int argc, char **argv, bool *done)
{
	static struct option opts[VS_NKEYS + 6];
	static char shorts[2 * VS_NKEYS + 8];
	size_t no = 0, ns = 0;
	for (int k = 0; k < VS_NKEYS; k++) {
		const struct vs_setting *st = &vs_settings[k];
		if (!st->flag)
			continue;
		opts[no++] = (struct option){ st->flag, required_argument, NULL,
		                              st->short_opt ? st->short_opt : OPT_KEY + k };
		if (st->short_opt) {
			shorts[ns++] = st->short_opt;
			shorts[ns++] = ':';
		}
	}
	opts[no++] = (struct option){ "ctl", required_argument, NULL, OPT_CTL };
	opts[no++] = (struct option){ "check-config", no_argument, NULL, OPT_CHECK };
	opts[no++] = (struct option){ "verbose", no_argument, NULL, 'v' };
	opts[no++] = (struct option){ "help", no_argument, NULL, 'h' };
	opts[no++] = (struct option){ "version", no_argument, NULL, 'V' };
	opts[no] = (struct option){ 0 };
	memcpy(shorts + ns, "vhV", 4);

	*c = (struct vs_config){ 0 };
	*done = false;
	int rc;
	char flag[64];
	for (int k = 0; k < VS_NKEYS; k++)
		if (vs_settings[k].store && apply(c, (enum vs_key)k, vs_settings[k].def, "default"))
			abort();   /* a default that fails its own check */
	/* Then the environment: an empty variable of the defaults file (a
	 * KEY= line) means "not set"; VRAM_SWAP_STATUS_FILE= is no key of it,
	 * and empty there disables the status file. --check-config judges a
	 * file, not this process's environment. */
	bool file_only = false;
	for (int i = 1; i < argc; i++)
		file_only = file_only || !strcmp(argv[i], "--check-config");
	for (int k = 0; k < VS_NKEYS && !file_only; k++) {
		const struct vs_setting *st = &vs_settings[k];
		const char *v = st->store ? getenv(st->env) : NULL;
		if (!v || (!*v && st->in_file))
			continue;
		if ((rc = apply(c, (enum vs_key)k, v, st->env)))
			return *done = true, rc;
	}
	bool check = false;
	optind = 1;
	int o;
	while ((o = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
		int k = -1;
		switch (o) {
		case 'v':
			c->verbose = true;
			continue;
		case 'h':
			usage(stdout);
			*done = true;
			return VS_EXIT_OK;
		case OPT_CHECK:
			check = true;
			continue;
		case OPT_CTL:
			c->ctl = optarg;
			continue;
		case 'V':
			printf("vram-swapd %s\n", VS_VERSION);
			*done = true;
			return VS_EXIT_OK;
		case '?':
			fprintf(stderr, "Try 'vram-swapd --help'.\n");
			*done = true;
			return VS_EXIT_USAGE;
		}
		for (int i = 0; i < VS_NKEYS; i++)
			if (vs_settings[i].flag && (o == OPT_KEY + i || o == vs_settings[i].short_opt))
				k = i;
		if (k < 0)
			abort();   /* an option of the table that the loop above missed */
		snprintf(flag, sizeof flag, "--%s", vs_settings[k].flag);
		if ((rc = apply(c, (enum vs_key)k, optarg, flag)))
			return *done = true, rc;
	}
	if (check) {
		*done = true;
		if (argc - optind > 1) {
			fprintf(stderr, "vram-swapd: --check-config takes one file\n");
			return VS_EXIT_USAGE;
		}
		return vs_check_config(optind < argc ? argv[optind] : NULL);
	}
	if (optind < argc) {
		fprintf(stderr, "vram-swapd: unexpected argument '%s'\n", argv[optind]);
		*done = true;
		return VS_EXIT_USAGE;
	}
	/* An explicit size smaller than the minimum is what the user asked
	 * for: the minimum only bounds percentages and back-off. */
	if (c->size.percent == 0 && c->size.bytes < c->min_size)
		c->min_size = c->size.bytes;
	return VS_EXIT_OK;
}
