/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"

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
	CHECK(vs_parse_size("4096", false, &s, &why) == 0 && s.bytes == 4096);
	CHECK(vs_parse_size("8G", false, &s, &why) == 0 && s.bytes == 8ULL << 30);
	CHECK(vs_parse_size("512m", false, &s, &why) == 0 && s.bytes == 512ULL << 20);
	CHECK(vs_parse_size("2TiB", false, &s, &why) == 0 && s.bytes == 2ULL << 40);
	CHECK(vs_parse_size("4k", false, &s, &why) == 0 && s.bytes == 4096);
	CHECK(vs_parse_size("75%", true, &s, &why) == 0 && s.percent == 75);
	CHECK(vs_parse_size("75%", false, &s, &why) == -1);
	CHECK(vs_parse_size("0%", true, &s, &why) == -1);
	CHECK(vs_parse_size("101%", true, &s, &why) == -1);
	CHECK(vs_parse_size("5%x", true, &s, &why) == -1);
	CHECK(vs_parse_size("1000", false, &s, &why) == -1 && strstr(why, "4096"));
	CHECK(vs_parse_size("1K", false, &s, &why) == -1);
	CHECK(vs_parse_size("", false, &s, &why) == -1);
	CHECK(vs_parse_size("-4096", false, &s, &why) == -1);
	CHECK(vs_parse_size("8GB", false, &s, &why) == -1);
	CHECK(vs_parse_size("99999999999999999999", false, &s, &why) == -1);
	CHECK(vs_parse_size("17000000T", false, &s, &why) == -1);
	CHECK(vs_parse_size("0", false, &s, &why) == -1);

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

	if (failures)
		fprintf(stderr, "test_config: %d failure(s)\n", failures);
	return failures != 0;
}
