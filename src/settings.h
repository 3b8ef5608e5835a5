/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Every setting of vram-swap, with its default and its check, in one
 * table: the daemon's flags and environment, and /etc/default/vram-swap,
 * whose keys the scripts read too. `vram-swapd --check-config` is the one
 * gate the scripts pass the file through; they re-implement nothing.
 */
#ifndef VS_SETTINGS_H
#define VS_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

enum vs_key {
	VS_K_SIZE, VS_K_MIN_SIZE, VS_K_STEP, VS_K_DEVICE, VS_K_BACKEND,
	VS_K_PRIORITY, VS_K_CONNECTIONS, VS_K_NBD_DEVICE, VS_K_DISCARD,
	VS_K_SOCKET, VS_K_EXPORT, VS_K_MAX_CLIENTS, VS_K_CHUNK, VS_K_RESERVE,
	VS_K_AUTO, VS_K_GROW_DELAY, VS_K_ON_BATTERY, VS_K_STATUS_FILE,
	VS_NKEYS
};

/* The longest value of any setting (eight GPU UUIDs are 327 bytes); a
 * longer one is refused, never cut. Its normal form fits VS_VALUE_MAX. */
#define VS_VALUE_LEN 1023
#define VS_VALUE_MAX (VS_VALUE_LEN + 1)

/* sizeof ((struct sockaddr_un *)0)->sun_path - 1, for messages. */
#define VS_SUN_PATH_LEN 107

#define VS_STR_(x) #x
#define VS_STR(x) VS_STR_(x)

struct vs_setting {
	const char *env;      /* the environment variable and file key */
	const char *flag;     /* the daemon's flag, or NULL (scripts only) */
	const char *def;      /* the default, as the defaults file writes it */
	bool in_file;         /* a key of /etc/default/vram-swap */
	/* NULL when v is good (and its normal form is in norm), else why not. */
	const char *(*check)(const char *v, char norm[VS_VALUE_MAX]);
};

extern const struct vs_setting vs_settings[VS_NKEYS];

/* Checks one value of one setting; NULL or why it is wrong. */
const char *vs_setting_check(enum vs_key k, const char *v, char norm[VS_VALUE_MAX]);

/* `--check-config [FILE]`: validates FILE as the scripts and systemd read
 * it and prints every key's normalized value as KEY=value lines (without
 * FILE: the defaults). On a bad file, one line per problem naming file,
 * line, key and value on stderr. Returns the exit code (0 or 2). */
int vs_check_config(const char *path);

#endif
