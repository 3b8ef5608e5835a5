/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Whether the machine runs on battery, from sysfs power_supply. */
#ifndef VS_POWER_H
#define VS_POWER_H

#include <stdbool.h>

/* True when the machine has a mains supply and none is online (a laptop
 * off its charger). Machines without one (desktops, servers) are never on
 * battery. $VRAM_SWAP_SYSFS replaces /sys (tests). */
bool vs_on_battery(void);

#endif
