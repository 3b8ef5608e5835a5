/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Every setting of vram-swap is one row of VS_SETTINGS below: its
 * environment variable (the key of /etc/default/vram-swap), the daemon's
 * flag, its default, its check, the field of struct vs_config it fills
 * and its line of --help. The daemon's options, its usage text, its
 * environment, `vram-swapd --check-config` (the one gate the scripts pass
 * the defaults file through; they re-implement nothing) and the fields of
 * struct vs_config all come from these rows; tests/bats/defaults.bats
 * holds the defaults file, the man page and the docs' tables to them. A
 * new setting is a row here (with its check in settings.c) and its prose.
 *
 * Errors, for settings.h and config.h alike: a function that judges one
 * value (a row's check, vs_setting_check, vs_parse_size) returns NULL when
 * the value is good, else a constant string saying why not, naming
 * neither setting nor value: its caller knows where the value came from
 * (flag, environment, file and line) and prints both. A function that
 * handles a whole configuration (vs_config_load, vs_check_config) prints
 * its own messages and returns an exit status: VS_EXIT_OK, or
 * VS_EXIT_USAGE for anything wrong with the settings.
 */
#ifndef VS_SETTINGS_H
#define VS_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * X(ID, ENV, FLAG, SHORT, ARG, DEFAULT, CHECK, WHERE, TYPE, FIELD, STORE, HELP)
 *   ID       the key: VS_K_<ID>
 *   ENV      environment variable and defaults-file key
 *   FLAG     the daemon's long option, without "--" (NULL for FILE rows)
 *   SHORT    its short option, or 0
 *   ARG      what the flag takes, for --help
 *   DEFAULT  as the defaults file writes it
 *   CHECK    settings.c's check of a value (and its normal form)
 *   WHERE    ALL: defaults file, flag and environment of the daemon;
 *            FILE: defaults file only (the scripts' settings);
 *            DAEMON: flag and environment only
 *   TYPE, FIELD, STORE  the field of struct vs_config and how a good value
 *            goes into it (config.c); unused for FILE rows
 *   HELP     the flag's line of --help
 */
#define VS_SETTINGS(X) \
	X(SIZE, "VRAM_SWAP_SIZE", "size", 's', "SIZE|N%", "75%", check_size_pct, ALL, \
	  struct vs_size, size, store_size, "export size, or N% of free memory") \
	X(MIN_SIZE, "VRAM_SWAP_MIN_SIZE", "min-size", 0, "SIZE", "1G", check_size, ALL, \
	  uint64_t, min_size, store_bytes, "smallest size worth serving") \
	X(STEP, "VRAM_SWAP_STEP", "step", 0, "SIZE", "512M", check_size, ALL, \
	  uint64_t, step, store_bytes, "back-off step when allocation fails") \
	X(DEVICE, "VRAM_SWAP_DEVICE", "device", 'd', "GPU", "0", check_device, ALL, \
	  const char *, device, store_str, "index, GPU-UUID or PCI bus id; all; or a list") \
	X(BACKEND, "VRAM_SWAP_BACKEND", "backend", 'b', "NAME", "cuda", check_backend, ALL, \
	  const char *, backend, store_str, "where pages are kept (backends below)") \
	X(PRIORITY, "VRAM_SWAP_PRIORITY", NULL, 0, NULL, "1000", check_priority, FILE, \
	  void, _, NULL, NULL) \
	X(CONNECTIONS, "VRAM_SWAP_CONNECTIONS", NULL, 0, NULL, "4", check_connections, FILE, \
	  void, _, NULL, NULL) \
	X(NBD_DEVICE, "VRAM_SWAP_NBD_DEVICE", NULL, 0, NULL, "auto", check_nbd_device, FILE, \
	  void, _, NULL, NULL) \
	X(DISCARD, "VRAM_SWAP_DISCARD", NULL, 0, NULL, "on", check_on_off, FILE, \
	  void, _, NULL, NULL) \
	X(SOCKET, "VRAM_SWAP_SOCKET", "socket", 'S', "PATH", "/run/vram-swap/vram-swapd.sock", \
	  check_socket, ALL, const char *, socket_path, store_str, "Unix socket to listen on") \
	X(EXPORT, "VRAM_SWAP_EXPORT", "export", 'e', "NAME", "vram-swap", check_export, ALL, \
	  const char *, export_name, store_str, "export name (\"\" also works)") \
	X(MAX_CLIENTS, "VRAM_SWAP_MAX_CLIENTS", "max-clients", 0, "N", "64", check_max_clients, \
	  ALL, unsigned, max_clients, store_uint, "connections served at once, 1-64") \
	X(CHUNK, "VRAM_SWAP_CHUNK", "chunk", 0, "SIZE|auto", "auto", check_chunk, ALL, \
	  uint64_t, chunk, store_bytes, "size of each chunk (its own export and swap area)") \
	X(RESERVE, "VRAM_SWAP_RESERVE", "reserve", 0, "SIZE|N%", "20%", check_reserve, ALL, \
	  struct vs_size, reserve, store_size, "VRAM kept free for others on each GPU") \
	X(AUTO, "VRAM_SWAP_AUTO", "auto", 0, "on|off", "on", check_on_off, ALL, \
	  bool, automatic, store_on, "follow the reserve: release and grow back") \
	X(GROW_DELAY, "VRAM_SWAP_GROW_DELAY", "grow-delay", 0, "SECONDS", "60", check_grow_delay, \
	  ALL, unsigned, grow_delay, store_uint, "free VRAM must stay high this long to grow") \
	X(ON_BATTERY, "VRAM_SWAP_ON_BATTERY", "on-battery", 0, "keep|release", "keep", \
	  check_on_battery, ALL, bool, release_on_battery, store_release, \
	  "on battery, release every chunk") \
	X(COMPRESS, "VRAM_SWAP_COMPRESS", "compress", 0, "off|lz4|zstd", "off", check_compress, \
	  ALL, const char *, compress, store_str, "compress pages that are not same-filled") \
	X(RATIO, "VRAM_SWAP_RATIO", "ratio", 0, "N", "2", check_ratio, ALL, unsigned, ratio, \
	  store_uint, "with compression: swap offered per byte of memory, 1-4") \
	X(RESTART_WAIT, "VRAM_SWAP_RESTART_WAIT", "restart-wait", 0, "SECONDS", "60", \
	  check_restart_wait, ALL, unsigned, restart_wait, store_uint, \
	  "swap I/O waits this long for a restarted daemon") \
	X(STATUS_FILE, "VRAM_SWAP_STATUS_FILE", "status-file", 0, "PATH", "/run/vram-swap/status", \
	  check_status_file, DAEMON, const char *, status_file, store_str, \
	  "counters, rewritten each second (empty: none)")

enum vs_key {
#define VS_X_KEY(id, ...) VS_K_##id,
	VS_SETTINGS(VS_X_KEY)
#undef VS_X_KEY
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

struct vs_config;

struct vs_setting {
	const char *env;      /* the environment variable and file key */
	const char *flag;     /* the daemon's long option without "--", or NULL */
	char short_opt;       /* its short option, or 0 */
	const char *arg;      /* what the flag takes, for --help */
	const char *def;      /* the default, as the defaults file writes it */
	bool in_file;         /* a key of /etc/default/vram-swap */
	/* NULL when v is good (and its normal form is in norm), else why not. */
	const char *(*check)(const char *v, char norm[VS_VALUE_MAX]);
	/* Puts a good value into its field of struct vs_config (NULL: the
	 * scripts' setting, checked only). */
	void (*store)(struct vs_config *c, const char *v);
	const char *help;     /* the flag's line of --help */
};

extern const struct vs_setting vs_settings[VS_NKEYS];

/* Checks one value of one setting: NULL, or why it is wrong. */
const char *vs_setting_check(enum vs_key k, const char *v, char norm[VS_VALUE_MAX]);

/* `--check-config [FILE]`: validates FILE as the scripts and systemd read
 * it and prints every key's normalized value as KEY=value lines (without
 * FILE: the defaults). On a bad file, one line per problem naming file,
 * line, key and value on stderr. Returns the exit status. */
int vs_check_config(const char *path);

#endif
