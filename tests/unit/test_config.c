/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "settings.h"

static int load(struct vs_config *c, const char *a1, const char *a2)
{
	char *argv[] = { "vram-swapd", (char *)a1, (char *)a2, NULL };
	bool done;
	int argc = a1 ? (a2 ? 3 : 2) : 1;
	return vs_config_load(c, argc, argv, &done);
}

int main(void)
{
	struct vs_size s;
	const char *why;
	CHECK(vs_parse_size("4096", false, &s) == NULL && s.bytes == 4096);
	CHECK(vs_parse_size("8G", false, &s) == NULL && s.bytes == 8ULL << 30);
	CHECK(vs_parse_size("512m", false, &s) == NULL && s.bytes == 512ULL << 20);
	CHECK(vs_parse_size("2TiB", false, &s) == NULL && s.bytes == 2ULL << 40);
	CHECK(vs_parse_size("4k", false, &s) == NULL && s.bytes == 4096);
	CHECK(vs_parse_size("75%", true, &s) == NULL && s.percent == 75);
	CHECK(vs_parse_size("75%", false, &s) != NULL);
	CHECK(vs_parse_size("0%", true, &s) != NULL);
	CHECK(vs_parse_size("101%", true, &s) != NULL);
	CHECK(vs_parse_size("5%x", true, &s) != NULL);
	CHECK((why = vs_parse_size("1000", false, &s)) && strstr(why, "4096"));
	CHECK(vs_parse_size("1K", false, &s) != NULL);
	CHECK(vs_parse_size("", false, &s) != NULL);
	CHECK(vs_parse_size("-4096", false, &s) != NULL);
	CHECK(vs_parse_size("8GB", false, &s) != NULL);
	CHECK(vs_parse_size("99999999999999999999", false, &s) != NULL);
	CHECK(vs_parse_size("17000000T", false, &s) != NULL);
	CHECK(vs_parse_size("0", false, &s) != NULL);

	struct vs_size pct = { .percent = 50 };
	CHECK_EQ(vs_size_resolve(&pct, 10ULL << 30), 5ULL << 30);
	pct.percent = 33;
	CHECK_EQ(vs_size_resolve(&pct, 1000ULL << 20) % (2 << 20), 0);
	struct vs_size abs = { .bytes = 123 << 12 };
	CHECK_EQ(vs_size_resolve(&abs, 1), 123 << 12);

	struct vs_config c;
	unsetenv("VRAM_SWAP_SIZE");
	CHECK(load(&c, NULL, NULL) == 0);
	CHECK(!strcmp(c.backend, "cuda") && c.size.percent == 75 && c.max_clients == 64 && c.chunk == 0 &&
	      c.reserve.percent == 20 && c.automatic && c.grow_delay == 60 && !c.release_on_battery);
	CHECK(c.min_size == 1ULL << 30 && c.step == 512ULL << 20);
	setenv("VRAM_SWAP_SIZE", "2G", 1);
	CHECK(load(&c, NULL, NULL) == 0 && c.size.bytes == 2ULL << 30);
	CHECK(load(&c, "--size=64M", NULL) == 0 && c.size.bytes == 64ULL << 20);
	/* an explicit size under the minimum lowers the minimum */
	CHECK(c.min_size == 64ULL << 20);
	setenv("VRAM_SWAP_SIZE", "", 1);   /* KEY= in the defaults file: unset */
	CHECK(load(&c, NULL, NULL) == 0 && c.size.percent == 75);
	setenv("VRAM_SWAP_SIZE", "x", 1);
	CHECK(load(&c, NULL, NULL) == VS_EXIT_USAGE);
	unsetenv("VRAM_SWAP_SIZE");
	CHECK(load(&c, "--backend", "gpu") == VS_EXIT_USAGE);
	CHECK(load(&c, "-b", "host") == 0 && !strcmp(c.backend, "host"));
	setenv("VRAM_SWAP_STATUS_FILE", "", 1);   /* here empty means: none */
	CHECK(load(&c, NULL, NULL) == 0 && !strcmp(c.status_file, ""));
	unsetenv("VRAM_SWAP_STATUS_FILE");

	/* Every row with a flag: its long option and its variable take its
	 * default, and (short options) its short one too. */
	for (int k = 0; k < VS_NKEYS; k++) {
		const struct vs_setting *st = &vs_settings[k];
		char opt[64], sh[3] = { '-', st->short_opt, 0 };
		if (!st->flag) {
			CHECK(st->in_file && !st->store && !st->short_opt);
			continue;
		}
		snprintf(opt, sizeof opt, "--%s=%s", st->flag, st->def);
		CHECK(st->store && st->arg && st->help);
		CHECK(load(&c, opt, NULL) == 0);
		CHECK(!st->short_opt || load(&c, sh, st->def) == 0);
		setenv(st->env, st->def, 1);
		CHECK(load(&c, NULL, NULL) == 0);
		unsetenv(st->env);
	}
	/* Each kind of field. */
	CHECK(load(&c, "--grow-delay=5", NULL) == 0 && c.grow_delay == 5);
	CHECK(load(&c, "--chunk=auto", NULL) == 0 && c.chunk == 0);
	CHECK(load(&c, "--chunk=128M", NULL) == 0 && c.chunk == 128ULL << 20);
	CHECK(load(&c, "--reserve=0", NULL) == 0 && c.reserve.bytes == 0 && c.reserve.percent == 0);
	CHECK(load(&c, "--reserve=2G", NULL) == 0 && c.reserve.bytes == 2ULL << 30);
	CHECK(load(&c, "--auto=off", NULL) == 0 && !c.automatic);
	CHECK(load(&c, "-d", "GPU-1b2c3d4e") == 0 && !strcmp(c.device, "GPU-1b2c3d4e"));
	CHECK(load(&c, "-e", "") == 0 && !strcmp(c.export_name, ""));
	CHECK(load(&c, "--max-clients", "65") == VS_EXIT_USAGE);
	setenv("VRAM_SWAP_ON_BATTERY", "release", 1);
	CHECK(load(&c, NULL, NULL) == 0 && c.release_on_battery);
	CHECK(load(&c, "--on-battery=keep", NULL) == 0 && !c.release_on_battery);   /* flag wins */
	unsetenv("VRAM_SWAP_ON_BATTERY");
	/* The scripts' settings are checked by --check-config, never read by
	 * the daemon from its environment. */
	setenv("VRAM_SWAP_PRIORITY", "high", 1);
	CHECK(load(&c, NULL, NULL) == 0);
	unsetenv("VRAM_SWAP_PRIORITY");

	if (failures)
		fprintf(stderr, "test_config: %d failure(s)\n", failures);
	return failures != 0;
}
