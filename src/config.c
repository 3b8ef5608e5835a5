/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MiB (1ULL << 20)

int vs_parse_size(const char *s, bool allow_percent, struct vs_size *out,
                  const char **why)
{
	const char *p = s;
	if (*p < '0' || *p > '9') {
		*why = "expected a number with an optional K/M/G/T suffix";
		return -1;
	}
	errno = 0;
	char *end;
	unsigned long long v = strtoull(p, &end, 10);
	if (errno == ERANGE) {
		*why = "number too large";
		return -1;
	}
	if (*end == '%') {
		if (!allow_percent) {
			*why = "a percentage is not allowed here";
			return -1;
		}
		if (end[1] != '\0' || v < 1 || v > 100) {
			*why = "percentage must be 1% to 100%";
			return -1;
		}
		out->percent = (unsigned)v;
		out->bytes = 0;
		return 0;
	}
	unsigned shift = 0;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	case 't': case 'T': shift = 40; break;
	default:
		*why = "unknown suffix (use K, M, G or T: binary units)";
		return -1;
	}
	if (shift && end[1] != '\0' && strcasecmp(end + 1, "iB") != 0) {
		*why = "unknown suffix (use K, M, G or T: binary units)";
		return -1;
	}
	if (shift && v > (UINT64_MAX >> shift)) {
		*why = "number too large";
		return -1;
	}
	v <<= shift;
	if (v == 0) {
		*why = "must be greater than zero";
		return -1;
	}
	if (v % VS_BLOCK) {
		*why = "must be a multiple of 4096 bytes";
		return -1;
	}
	out->bytes = v;
	out->percent = 0;
	return 0;
}

uint64_t vs_size_resolve(const struct vs_size *s, uint64_t free_bytes)
{
	if (!s->percent)
		return s->bytes;
	uint64_t v = free_bytes / 100 * s->percent + free_bytes % 100 * s->percent / 100;
	return v & ~(2 * MiB - 1);
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: vram-swapd [OPTION]...\n"
"Serve GPU memory (or, for tests, host RAM) as an NBD export on a Unix\n"
"socket, for use as a Linux swap device through nbd-client.\n"
"\n"
"  -b, --backend=NAME      cuda (VRAM, default) or host (RAM)   VRAM_SWAP_BACKEND\n"
"  -s, --size=SIZE|N%%      export size, or N%% of free memory    VRAM_SWAP_SIZE (75%%)\n"
"      --min-size=SIZE     smallest size worth serving          VRAM_SWAP_MIN_SIZE (1G)\n"
"      --step=SIZE         back-off step when allocation fails  VRAM_SWAP_STEP (512M)\n"
"  -d, --device=GPU        index, GPU-UUID or PCI bus id        VRAM_SWAP_DEVICE (0)\n"
"  -S, --socket=PATH       Unix socket to listen on             VRAM_SWAP_SOCKET\n"
"                          (/run/vram-swap/vram-swapd.sock)\n"
"  -e, --export=NAME       export name (\"\" also works)          VRAM_SWAP_EXPORT (vram-swap)\n"
"      --max-clients=N     connections served at once, 1-64     VRAM_SWAP_MAX_CLIENTS (8)\n"
"      --status-file=PATH  counters, rewritten each second      VRAM_SWAP_STATUS_FILE\n"
"                          (/run/vram-swap/status; empty: none)\n"
"  -v, --verbose           log debug messages\n"
"  -h, --help              show this help\n"
"  -V, --version           show the version\n"
"\n"
"SIZE is bytes, or a number with K, M, G or T (binary units); the result\n"
"must be a multiple of 4096. Percentages are rounded down to 2 MiB.\n"
"A flag wins over its environment variable.\n"
"\n"
"SIGTERM or SIGINT: stop accepting; while a client is attached keep serving\n"
"until it disconnects (pages in the export would be lost), then exit 0.\n"
"SIGKILL is the only forced exit and loses every page the export holds.\n"
"\n"
"Exit status: 0 clean exit, 1 runtime failure, 2 invalid setting.\n");
}

static int bad(const char *setting, const char *value, const char *why)
{
	fprintf(stderr, "vram-swapd: invalid %s '%s': %s\n", setting, value, why);
	return VS_EXIT_USAGE;
}

/* One setting: where it came from (flag or environment) is part of the
 * error message, so the user knows which file or command line to fix. */
static int apply(struct vs_config *c, int key, const char *v, const char *src)
{
	struct vs_size sz;
	const char *why;
	char *end;
	switch (key) {
	case 'b':
		if (strcmp(v, "cuda") && strcmp(v, "host"))
			return bad(src, v, "expected 'cuda' or 'host'");
		c->backend = v;
		break;
	case 's':
		if (vs_parse_size(v, true, &sz, &why))
			return bad(src, v, why);
		c->size = sz;
		break;
	case 'm':
	case 't':
		if (vs_parse_size(v, false, &sz, &why))
			return bad(src, v, why);
		if (key == 'm')
			c->min_size = sz.bytes;
		else
			c->step = sz.bytes;
		break;
	case 'd':
		if (!*v)
			return bad(src, v, "expected a GPU index, GPU-UUID or PCI bus id");
		c->device = v;
		break;
	case 'S':
		if (v[0] != '/')
			return bad(src, v, "must be an absolute path");
		if (strlen(v) >= 108)
			return bad(src, v, "longer than a Unix socket path may be (107)");
		c->socket_path = v;
		break;
	case 'e':
		if (strlen(v) > 4096)
			return bad(src, v, "longer than 4096 bytes");
		c->export_name = v;
		break;
	case 'c': {
		errno = 0;
		unsigned long n = strtoul(v, &end, 10);
		if (errno || *end || end == v || n < 1 || n > 64)
			return bad(src, v, "expected a number from 1 to 64");
		c->max_clients = (unsigned)n;
		break;
	}
	case 'f':
		if (*v && v[0] != '/')
			return bad(src, v, "must be an absolute path or empty");
		c->status_file = v;
		break;
	}
	return VS_EXIT_OK;
}

static const struct {
	int key;
	const char *env;
	const char *flag;
} settings[] = {
	{ 'b', "VRAM_SWAP_BACKEND", "--backend" },
	{ 's', "VRAM_SWAP_SIZE", "--size" },
	{ 'm', "VRAM_SWAP_MIN_SIZE", "--min-size" },
	{ 't', "VRAM_SWAP_STEP", "--step" },
	{ 'd', "VRAM_SWAP_DEVICE", "--device" },
	{ 'S', "VRAM_SWAP_SOCKET", "--socket" },
	{ 'e', "VRAM_SWAP_EXPORT", "--export" },
	{ 'c', "VRAM_SWAP_MAX_CLIENTS", "--max-clients" },
	{ 'f', "VRAM_SWAP_STATUS_FILE", "--status-file" },
};

int vs_config_load(struct vs_config *c, int argc, char **argv, bool *done)
{
	static const struct option opts[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "size", required_argument, NULL, 's' },
		{ "min-size", required_argument, NULL, 'm' },
		{ "step", required_argument, NULL, 't' },
		{ "device", required_argument, NULL, 'd' },
		{ "socket", required_argument, NULL, 'S' },
		{ "export", required_argument, NULL, 'e' },
		{ "max-clients", required_argument, NULL, 'c' },
		{ "status-file", required_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	*c = (struct vs_config){
		.backend = "cuda",
		.size = { .percent = 75 },
		.min_size = 1ULL << 30,
		.step = 512 * MiB,
		.device = "0",
		.socket_path = "/run/vram-swap/vram-swapd.sock",
		.export_name = "vram-swap",
		.status_file = "/run/vram-swap/status",
		.max_clients = 8,
	};
	*done = false;
	int rc;
	/* An empty variable means "not set": the defaults file may carry
	 * KEY= lines. VRAM_SWAP_STATUS_FILE= is the exception: empty
	 * disables the status file, so only absence means unset there. */
	for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
		const char *v = getenv(settings[i].env);
		if (!v || (!*v && settings[i].key != 'f'))
			continue;
		if ((rc = apply(c, settings[i].key, v, settings[i].env)))
			return *done = true, rc;
	}
	optind = 1;
	int o;
	while ((o = getopt_long(argc, argv, "b:s:d:S:e:vhV", opts, NULL)) != -1) {
		switch (o) {
		case 'v':
			c->verbose = true;
			break;
		case 'h':
			usage(stdout);
			*done = true;
			return VS_EXIT_OK;
		case 'V':
			printf("vram-swapd %s\n", VS_VERSION);
			*done = true;
			return VS_EXIT_OK;
		case '?':
			fprintf(stderr, "Try 'vram-swapd --help'.\n");
			*done = true;
			return VS_EXIT_USAGE;
		default:
			for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
				if (settings[i].key == o &&
				    (rc = apply(c, o, optarg, settings[i].flag)))
					return *done = true, rc;
		}
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
