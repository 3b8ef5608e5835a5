/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "power.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first line of dir/name/file into buf; false if unreadable. */
static bool read_attr(const char *dir, const char *name, const char *file, char *buf, int n)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s/%s", dir, name, file);
	FILE *f = fopen(path, "re");
	bool ok = f && fgets(buf, n, f);
	if (f)
		fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = 0;
	return ok;
}

bool vs_on_battery(void)
{
	const char *sys = getenv("VRAM_SWAP_SYSFS");
	char dir[256], v[32];
	snprintf(dir, sizeof dir, "%s/class/power_supply", sys && *sys ? sys : "/sys");
	DIR *d = opendir(dir);
	if (!d)
		return false;
	bool mains = false, online = false;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || !read_attr(dir, e->d_name, "type", v, sizeof v) ||
		    strcmp(v, "Mains"))
			continue;
		mains = true;
		if (read_attr(dir, e->d_name, "online", v, sizeof v) && !strcmp(v, "1"))
			online = true;
	}
	closedir(d);
	return mains && !online;
}
