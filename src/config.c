/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "settings.h"

#define MiB (1ULL << 20)

int vs_parse_size(const char *s, bool allow_percent, struct vs_size *out,
                  const char **why)
{
	const char *p = s;
	if (*p < '0' || *p > '9') {
		*why = "expected a size such as 8G, 512M or 1048576 (suffixes K, M, G, T)";
		return -1;
	}
	errno = 0;
	char *end;
	unsigned long long v = strtoull(p, &end, 10);
	if (errno == ERANGE) {
		*why = "too large";
		return -1;
	}
	if (*end == '%') {
		if (!allow_percent) {
			*why = "a percentage is not allowed here";
			return -1;
		}
		if (end[1] != '\0' || v < 1 || v > 100) {
			*why = "a percentage must be 1% to 100%";
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
		*why = "too large";
		return -1;
	}
	v <<= shift;
	if (v == 0) {
		*why = "must be at least 4096 bytes";
		return -1;
	}
	if (v % VS_BLOCK) {
		*why = "must be a multiple of 4096 bytes (the swap page size)";
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
"       vram-swapd --check-config [FILE]\n"
"       vram-swapd [--socket=PATH] --ctl=COMMAND\n"
"Serve GPU memory (or, for tests, host RAM) as an NBD export on a Unix\n"
"socket, for use as a Linux swap device through nbd-client.\n"
"\n");
	static const struct { enum vs_key k; const char *opt, *help; } rows[] = {
		{ VS_K_BACKEND, "-b, --backend=NAME", "cuda (VRAM) or host (RAM)" },
		{ VS_K_SIZE, "-s, --size=SIZE|N%", "export size, or N% of free memory" },
		{ VS_K_MIN_SIZE, "    --min-size=SIZE", "smallest size worth serving" },
		{ VS_K_STEP, "    --step=SIZE", "back-off step when allocation fails" },
		{ VS_K_DEVICE, "-d, --device=GPU", "index, GPU-UUID or PCI bus id" },
		{ VS_K_SOCKET, "-S, --socket=PATH", "Unix socket to listen on" },
		{ VS_K_EXPORT, "-e, --export=NAME", "export name (\"\" also works)" },
		{ VS_K_MAX_CLIENTS, "    --max-clients=N", "connections served at once, 1-64" },
		{ VS_K_CHUNK, "    --chunk=SIZE|auto", "size of each chunk (its own export and swap area)" },
		{ VS_K_RESERVE, "    --reserve=SIZE|N%", "VRAM kept free for others on each GPU" },
		{ VS_K_AUTO, "    --auto=on|off", "follow the reserve: release and grow back" },
		{ VS_K_GROW_DELAY, "    --grow-delay=SECONDS", "free VRAM must stay high this long to grow" },
		{ VS_K_ON_BATTERY, "    --on-battery=keep|release", "on battery, release every chunk" },
		{ VS_K_STATUS_FILE, "    --status-file=PATH", "counters, rewritten each second (empty: none)" },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		fprintf(f, "  %-24s %s\n  %24s %s (default %s)\n", rows[i].opt, rows[i].help, "",
		        vs_settings[rows[i].k].env, vs_settings[rows[i].k].def);
	fprintf(f,
"  -v, --verbose            log debug messages\n"
"  -h, --help               show this help\n"
"  -V, --version            show the version\n"
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

/* One setting, checked by its entry in the settings table; where it came
 * from (flag or environment) is part of the error message, so the user
 * knows which file or command line to fix. */
static int apply(struct vs_config *c, enum vs_key k, const char *v, const char *src)
{
	char norm[VS_VALUE_MAX];
	const char *why = vs_setting_check(k, v, norm);
	struct vs_size sz;
	if (why)
		return bad(src, v, why);
	switch (k) {
	case VS_K_BACKEND:     c->backend = v; break;
	case VS_K_SIZE:        vs_parse_size(v, true, &c->size, &why); break;
	case VS_K_MIN_SIZE:    vs_parse_size(v, false, &sz, &why); c->min_size = sz.bytes; break;
	case VS_K_STEP:        vs_parse_size(v, false, &sz, &why); c->step = sz.bytes; break;
	case VS_K_DEVICE:      c->device = v; break;
	case VS_K_SOCKET:      c->socket_path = v; break;
	case VS_K_EXPORT:      c->export_name = v; break;
	case VS_K_MAX_CLIENTS: c->max_clients = (unsigned)strtoul(v, NULL, 10); break;
	case VS_K_STATUS_FILE: c->status_file = v; break;
	case VS_K_CHUNK:
		c->chunk = 0;   /* auto */
		if (strcmp(v, "auto") && !vs_parse_size(v, false, &sz, &why))
			c->chunk = sz.bytes;
		break;
	case VS_K_RESERVE:
		if (!strcmp(v, "0"))
			c->reserve = (struct vs_size){ 0 };
		else
			vs_parse_size(v, true, &c->reserve, &why);
		break;
	case VS_K_AUTO:        c->automatic = !strcmp(v, "on"); break;
	case VS_K_GROW_DELAY:  c->grow_delay = (unsigned)strtoul(v, NULL, 10); break;
	case VS_K_ON_BATTERY:  c->release_on_battery = !strcmp(v, "release"); break;
	default:               break;   /* the scripts' keys: checked only */
	}
	return VS_EXIT_OK;
}

/* getopt's value for each flag of the settings table. */
static const struct { int opt; enum vs_key key; } flags[] = {
	{ 'b', VS_K_BACKEND }, { 's', VS_K_SIZE }, { 'm', VS_K_MIN_SIZE },
	{ 't', VS_K_STEP }, { 'd', VS_K_DEVICE }, { 'S', VS_K_SOCKET },
	{ 'e', VS_K_EXPORT }, { 'c', VS_K_MAX_CLIENTS }, { 'f', VS_K_STATUS_FILE },
	{ 'k', VS_K_CHUNK }, { 'r', VS_K_RESERVE }, { 'a', VS_K_AUTO },
	{ 'g', VS_K_GROW_DELAY }, { 'B', VS_K_ON_BATTERY },
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
		{ "chunk", required_argument, NULL, 'k' },
		{ "reserve", required_argument, NULL, 'r' },
		{ "auto", required_argument, NULL, 'a' },
		{ "grow-delay", required_argument, NULL, 'g' },
		{ "on-battery", required_argument, NULL, 'B' },
		{ "ctl", required_argument, NULL, 'X' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	*c = (struct vs_config){ .status_file = "" };
	*done = false;
	int rc;
	/* Defaults from the table, then the environment: an empty variable
	 * means "not set" (the defaults file may carry KEY= lines), except
	 * VRAM_SWAP_STATUS_FILE=, where empty disables the status file. */
	for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
		const struct vs_setting *st = &vs_settings[flags[i].key];
		if ((rc = apply(c, flags[i].key, st->def, st->flag)))
			abort();   /* a default that fails its own check */
	}
	/* --check-config judges a file, not this process's environment. */
	bool file_only = false;
	for (int i = 1; i < argc; i++)
		file_only = file_only || !strcmp(argv[i], "--check-config");
	for (size_t i = 0; i < sizeof flags / sizeof flags[0] && !file_only; i++) {
		const struct vs_setting *st = &vs_settings[flags[i].key];
		const char *v = getenv(st->env);
		if (!v || (!*v && flags[i].key != VS_K_STATUS_FILE))
			continue;
		if ((rc = apply(c, flags[i].key, v, st->env)))
			return *done = true, rc;
	}
	bool check = false;
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
		case 'C':
			check = true;
			break;
		case 'X':
			c->ctl = optarg;
			break;
		case 'V':
			printf("vram-swapd %s\n", VS_VERSION);
			*done = true;
			return VS_EXIT_OK;
		case '?':
			fprintf(stderr, "Try 'vram-swapd --help'.\n");
			*done = true;
			return VS_EXIT_USAGE;
		default:
			for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
				if (flags[i].opt == o &&
				    (rc = apply(c, flags[i].key, optarg, vs_settings[flags[i].key].flag)))
					return *done = true, rc;
		}
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
