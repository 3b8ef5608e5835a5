/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Placeholder until the cuda backend lands (issue 3). */
#include "backend.h"
#include "log.h"

static int cuda_open(struct vs_backend *be, const struct vs_config *cfg)
{
	(void)be;
	(void)cfg;
	vs_log(LOG_ERR, "the cuda backend is not built into this version; use --backend host");
	return -1;
}

const struct vs_backend_ops vs_backend_cuda = { .name = "cuda", .open = cuda_open };
