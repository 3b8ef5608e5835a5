/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "backend.h"

#include <string.h>

const struct vs_backend_ops *vs_backend_find(const char *name)
{
	static const struct vs_backend_ops *const all[] = {
		&vs_backend_cuda,
		&vs_backend_host,
	};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		if (strcmp(all[i]->name, name) == 0)
			return all[i];
	return NULL;
}
