/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Loading libcuda.so.1 and naming its results. The library is loaded at
 * open(), never later. */
#include "cuda_be.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

int vs_cuda_load(struct cuda_be *cb)
{
	Dl_info info;

	cb->lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!cb->lib) {
		vs_log(LOG_ERR, "cuda: cannot load libcuda.so.1 (%s): the NVIDIA "
		       "driver's user-space library is not installed or not on the "
		       "library path; install the driver (nvidia-smi should work), "
		       "or run with --backend host", dlerror());
		return -1;
	}
#define RESOLVE(sym, ret, params) \
	cb->api.sym = (vs_##sym##_fn *)dlsym(cb->lib, #sym);
	VS_CUDA_FUNCS(RESOLVE)
	VS_CUDA_OPT_FUNCS(RESOLVE)
#undef RESOLVE
	snprintf(cb->lib_path, sizeof cb->lib_path, "libcuda.so.1");
	if (cb->api.cuInit && dladdr((void *)cb->api.cuInit, &info) && info.dli_fname) {
		char real[PATH_MAX];
		const char *src = realpath(info.dli_fname, real) ? real : info.dli_fname;
		size_t n = strlen(src);
		if (n >= sizeof cb->lib_path)   /* keep the file name, which says the version */
			src += n - (sizeof cb->lib_path - 1);
		memcpy(cb->lib_path, src, strlen(src) + 1);
	}
#define CHECK(sym, ret, params) \
	if (!cb->api.sym) { \
		vs_log(LOG_ERR, "cuda: %s lacks %s: the NVIDIA driver is too old " \
		       "or the library is not the driver's; install a current " \
		       "driver", cb->lib_path, #sym); \
		return -1; \
	}
	VS_CUDA_FUNCS(CHECK)
#undef CHECK
	if (!cb->api.cuDeviceGetUuid_v2)
		cb->api.cuDeviceGetUuid_v2 = cb->api.cuDeviceGetUuid;
	return 0;
}

const char *vs_cuda_result_name(const struct cuda_be *cb, vs_curesult r)
{
	const char *s = NULL;
	/* The driver knows every name; the list covers a stub or a failed
	 * cuInit, where cuGetErrorName itself may answer nothing useful. */
	if (cb && cb->api.cuGetErrorName && cb->api.cuGetErrorName(r, &s) == 0 && s)
		return s;
	switch (r) {
#define NAME(name, value) case value: return #name;
	VS_CU_RESULTS(NAME)
#undef NAME
	default: return "CUDA_ERROR_(unnamed)";
	}
}

bool vs_cuda_maybe_sticky(vs_curesult r)
{
	switch (r) {
	case VS_CUDA_ERROR_DEINITIALIZED: case VS_CUDA_ERROR_DEVICE_UNAVAILABLE:
	case VS_CUDA_ERROR_ECC_UNCORRECTABLE: case VS_CUDA_ERROR_UNKNOWN:
	case VS_CUDA_ERROR_INVALID_CONTEXT: case VS_CUDA_ERROR_CONTEXT_IS_DESTROYED:
	case VS_CUDA_ERROR_ILLEGAL_ADDRESS: case VS_CUDA_ERROR_HARDWARE_STACK_ERROR:
	case VS_CUDA_ERROR_ILLEGAL_INSTRUCTION: case VS_CUDA_ERROR_MISALIGNED_ADDRESS:
	case VS_CUDA_ERROR_INVALID_ADDRESS_SPACE: case VS_CUDA_ERROR_INVALID_PC:
	case VS_CUDA_ERROR_LAUNCH_FAILED:
		return true;
	default:
		return false;
	}
}

/* The context a thread last made current: xfer() runs on connection
 * worker threads that start-up never saw, so each sets it once. */
static _Thread_local vs_cucontext tls_ctx;

int vs_cuda_make_current(struct cuda_be *cb)
{
	if (tls_ctx == cb->ctx)
		return 0;
	vs_curesult r = cb->api.cuCtxSetCurrent(cb->ctx);
	if (r != 0) {
		vs_log(LOG_ERR, "cuda: cuCtxSetCurrent failed: %s (%d)",
		       vs_cuda_result_name(cb, r), (int)r);
		return -1;
	}
	tls_ctx = cb->ctx;
	return 0;
}
