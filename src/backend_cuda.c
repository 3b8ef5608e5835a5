/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The cuda backend: the export lives in one VRAM allocation; each connection
 * worker owns a stream. libcuda.so.1 is loaded at open(), never later, and
 * every CUDA call's result is checked: a write is acknowledged only after
 * its copy was synchronised and found good.
 */
#include "backend.h"
#include "config.h"
#include "cuda_api.h"
#include "log.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Copies handed to one cuMemcpyBatchAsync call; longer batches are split. */
#define BATCH_MAX 256u

struct cuda_be {
	void *lib;
	struct vs_cuda_api api;
	char lib_path[256];
	int driver_version;
	int ordinal;
	vs_cudevice dev;
	vs_cucontext ctx;
	vs_cudeviceptr base;     /* the export */
	vs_cudeviceptr probe;    /* 4 KiB of scratch VRAM to tell a lost device */
	void *probe_host;        /* 4 KiB pinned */
	uint64_t size;
	bool use_batch;
	atomic_bool lost;
	atomic_flag lost_logged;
};

struct vs_queue {
	struct cuda_be *cb;
	vs_custream stream;
	vs_cudeviceptr dsts[BATCH_MAX], srcs[BATCH_MAX];
	size_t sizes[BATCH_MAX];
};

/* The context a thread last made current: xfer() runs on connection
 * worker threads that start-up never saw, so each sets it once. */
static _Thread_local vs_cucontext tls_ctx;

/* ---- naming results ----------------------------------------------------- */

static const char *result_name(const struct cuda_be *cb, vs_curesult r)
{
	static const struct { int code; const char *name; } known[] = {
		{0, "CUDA_SUCCESS"}, {1, "CUDA_ERROR_INVALID_VALUE"},
		{2, "CUDA_ERROR_OUT_OF_MEMORY"}, {3, "CUDA_ERROR_NOT_INITIALIZED"},
		{4, "CUDA_ERROR_DEINITIALIZED"}, {34, "CUDA_ERROR_STUB_LIBRARY"},
		{46, "CUDA_ERROR_DEVICE_UNAVAILABLE"}, {100, "CUDA_ERROR_NO_DEVICE"},
		{101, "CUDA_ERROR_INVALID_DEVICE"},
		{214, "CUDA_ERROR_ECC_UNCORRECTABLE"},
		{304, "CUDA_ERROR_OPERATING_SYSTEM"},
		{700, "CUDA_ERROR_ILLEGAL_ADDRESS"}, {719, "CUDA_ERROR_LAUNCH_FAILED"},
		{802, "CUDA_ERROR_SYSTEM_NOT_READY"},
		{803, "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH"},
		{804, "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE"},
		{999, "CUDA_ERROR_UNKNOWN"},
	};
	const char *s = NULL;
	/* The driver knows every name; the table covers a stub or a failed
	 * cuInit, where cuGetErrorName itself may answer nothing useful. */
	if (cb && cb->api.cuGetErrorName && cb->api.cuGetErrorName(r, &s) == 0 && s)
		return s;
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (known[i].code == r)
			return known[i].name;
	return "CUDA_ERROR_(unnamed)";
}

/* Results after which the context is unusable until the process ends. */
static bool maybe_sticky(vs_curesult r)
{
	switch (r) {
	case VS_CUDA_ERROR_DEINITIALIZED: case VS_CUDA_ERROR_DEVICE_UNAVAILABLE:
	case VS_CUDA_ERROR_ECC_UNCORRECTABLE: case VS_CUDA_ERROR_UNKNOWN:
	case 201: /* INVALID_CONTEXT */ case 709: /* CONTEXT_IS_DESTROYED */
	case 700: case 714: case 715: case 716: case 717: case 718: case 719:
		return true;
	default:
		return false;
	}
}

static void fmt_size(char *b, size_t n, uint64_t v)
{
	if (v >= (1ull << 30))
		snprintf(b, n, "%.2f GiB", (double)v / (1ull << 30));
	else
		snprintf(b, n, "%llu MiB", (unsigned long long)(v >> 20));
}

static void read_line(const char *path, char *b, size_t n)
{
	FILE *f = fopen(path, "r");
	b[0] = 0;
	if (f) {
		if (!fgets(b, (int)n, f))
			b[0] = 0;
		fclose(f);
	}
	b[strcspn(b, "\n")] = 0;
	if (!b[0])
		snprintf(b, n, "unknown");
}

/* One line for a failed start-up call: what failed, the result, the likely
 * cause and what to do about it. */
static void startup_error(const struct cuda_be *cb, const char *what, vs_curesult r)
{
	char why[1024], a[128];
	const char *uvm = getenv("VS_TEST_NVIDIA_UVM");
	const char *cvd = getenv("CUDA_VISIBLE_DEVICES");

	if (!uvm)
		uvm = "/dev/nvidia-uvm";
	switch (r) {
	case VS_CUDA_ERROR_STUB_LIBRARY:
		snprintf(why, sizeof why, "%s is the CUDA toolkit's stub library, "
		         "not the NVIDIA driver's: take the toolkit's stubs "
		         "directory out of LD_LIBRARY_PATH and the ld.so "
		         "configuration, and install the driver", cb->lib_path);
		break;
	case VS_CUDA_ERROR_NO_DEVICE:
		snprintf(why, sizeof why, "no NVIDIA GPU is visible: check that "
		         "`nvidia-smi -L` lists one and that the nvidia module is "
		         "loaded%s%s%s", cvd ? "; CUDA_VISIBLE_DEVICES is '" : "",
		         cvd ? cvd : "", cvd ? "'" : "");
		break;
	case VS_CUDA_ERROR_SYSTEM_DRIVER_MISMATCH:
		read_line("/sys/module/nvidia/version", a, sizeof a);
		snprintf(why, sizeof why, "the loaded nvidia kernel module (%s) and "
		         "%s are from different driver versions: reload the nvidia "
		         "modules (or reboot) after a driver upgrade", a, cb->lib_path);
		break;
	case VS_CUDA_ERROR_UNKNOWN:
		if (access(uvm, R_OK | W_OK) != 0)
			snprintf(why, sizeof why, "%s cannot be opened (%s): load the "
			         "nvidia-uvm module (`nvidia-modprobe -u -c 0` or "
			         "`modprobe nvidia-uvm`) and check its permissions",
			         uvm, strerror(errno));
		else
			snprintf(why, sizeof why, "the driver reported an unknown "
			         "error: look for NVRM/Xid lines in `dmesg`");
		break;
	case VS_CUDA_ERROR_DEVICE_UNAVAILABLE:
		snprintf(why, sizeof why, "the GPU is busy in exclusive-process or "
		         "prohibited compute mode: see `nvidia-smi -q -d COMPUTE`, "
		         "or choose another --device");
		break;
	case VS_CUDA_ERROR_SYSTEM_NOT_READY:
		snprintf(why, sizeof why, "the GPU system is not ready: on NVSwitch "
		         "machines start nvidia-fabricmanager");
		break;
	case VS_CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE:
		snprintf(why, sizeof why, "%s is a CUDA forward-compatibility "
		         "library this GPU cannot use: take cuda-compat out of the "
		         "library path", cb->lib_path);
		break;
	case VS_CUDA_ERROR_OPERATING_SYSTEM:
		snprintf(why, sizeof why, "a system call inside the driver failed: "
		         "check permissions on /dev/nvidia* and `dmesg`");
		break;
	case VS_CUDA_ERROR_OUT_OF_MEMORY:
		snprintf(why, sizeof why, "the GPU has no free memory left: see "
		         "`nvidia-smi` for what holds it");
		break;
	case VS_CUDA_ERROR_NOT_INITIALIZED: case VS_CUDA_ERROR_DEINITIALIZED:
		snprintf(why, sizeof why, "the driver is not usable in this process");
		break;
	default:
		snprintf(why, sizeof why, "unexpected result from %s", cb->lib_path);
		break;
	}
	vs_log(LOG_ERR, "cuda: %s failed: %s (%d): %s", what, result_name(cb, r),
	       (int)r, why);
}

/* ---- loading ------------------------------------------------------------ */

static int load_library(struct cuda_be *cb)
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

/* ---- choosing the GPU --------------------------------------------------- */

static void uuid_string(const struct cuda_be *cb, vs_cudevice d, char *out, size_t n)
{
	vs_cuuuid u;
	const unsigned char *b = (const unsigned char *)u.bytes;

	out[0] = 0;
	if (!cb->api.cuDeviceGetUuid_v2 || cb->api.cuDeviceGetUuid_v2(&u, d) != 0)
		return;
	snprintf(out, n, "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	         "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5],
	         b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* "0000:65:00.0", "00000000:65:00.0" (nvidia-smi) and "65:00.0" name the
 * same GPU: compare numerically. */
static bool parse_bus_id(const char *s, unsigned v[4])
{
	char tail;
	v[0] = 0;
	if (sscanf(s, "%x:%x:%x.%x%c", &v[0], &v[1], &v[2], &v[3], &tail) == 4)
		return true;
	v[0] = 0;
	return sscanf(s, "%x:%x.%x%c", &v[1], &v[2], &v[3], &tail) == 3;
}

static void list_gpus(const struct cuda_be *cb, int count, char *out, size_t n)
{
	size_t used = 0;

	out[0] = 0;
	for (int i = 0; i < count && used < n; i++) {
		vs_cudevice d;
		char name[96] = "?", uuid[64], bus[32] = "?";
		if (cb->api.cuDeviceGet(&d, i) != 0)
			continue;
		cb->api.cuDeviceGetName(name, sizeof name, d);
		cb->api.cuDeviceGetPCIBusId(bus, sizeof bus, d);
		uuid_string(cb, d, uuid, sizeof uuid);
		int k = snprintf(out + used, n - used, "%s%d %s (%s, %s)",
		                 i ? "; " : "", i, name, uuid, bus);
		if (k < 0)
			break;
		used += (size_t)k;
	}
}

static int pick_device(struct cuda_be *cb, const char *spec)
{
	int count = 0;
	vs_curesult r = cb->api.cuDeviceGetCount(&count);
	char gpus[1024];
	const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
	unsigned want[4];

	if (r != 0) {
		startup_error(cb, "cuDeviceGetCount", r);
		return -1;
	}
	if (count == 0) {
		startup_error(cb, "finding a GPU", VS_CUDA_ERROR_NO_DEVICE);
		return -1;
	}
	if (!spec || !*spec)
		spec = "0";
	list_gpus(cb, count, gpus, sizeof gpus);

	bool digits = true;
	for (const char *p = spec; *p; p++)
		digits = digits && isdigit((unsigned char)*p);
	if (digits) {
		long idx = strtol(spec, NULL, 10);
		if (strlen(spec) > 6 || idx >= count) {
			vs_log(LOG_ERR, "cuda: --device %s: no GPU with that index: "
			       "%d visible (%s)%s%s%s", spec, count, gpus,
			       cvd ? "; CUDA_VISIBLE_DEVICES is '" : "",
			       cvd ? cvd : "", cvd ? "' and renumbers them" : "");
			return -1;
		}
		cb->ordinal = (int)idx;
	} else if (!strncasecmp(spec, "GPU-", 4) || parse_bus_id(spec, want)) {
		bool is_uuid = !strncasecmp(spec, "GPU-", 4);
		cb->ordinal = -1;
		for (int i = 0; i < count && cb->ordinal < 0; i++) {
			vs_cudevice d;
			char id[64];
			unsigned have[4];
			if (cb->api.cuDeviceGet(&d, i) != 0)
				continue;
			if (is_uuid) {
				uuid_string(cb, d, id, sizeof id);
				if (!strcasecmp(id, spec))
					cb->ordinal = i;
			} else if (cb->api.cuDeviceGetPCIBusId(id, sizeof id, d) == 0 &&
			           parse_bus_id(id, have) && have[0] == want[0] &&
			           have[1] == want[1] && have[2] == want[2] &&
			           have[3] == want[3]) {
				cb->ordinal = i;
			}
		}
		if (cb->ordinal < 0) {
			vs_log(LOG_ERR, "cuda: --device %s: no visible GPU has that %s "
			       "(visible: %s); `nvidia-smi -L` lists them", spec,
			       is_uuid ? "UUID" : "PCI bus id", gpus);
			return -1;
		}
	} else {
		vs_log(LOG_ERR, "cuda: --device %s: not a GPU index, a UUID "
		       "(GPU-..., as `nvidia-smi -L` prints it) or a PCI bus id "
		       "(0000:65:00.0); visible: %s", spec, gpus);
		return -1;
	}
	r = cb->api.cuDeviceGet(&cb->dev, cb->ordinal);
	if (r != 0) {
		startup_error(cb, "cuDeviceGet", r);
		return -1;
	}
	return 0;
}

/* ---- sizing ------------------------------------------------------------- */

/* Names what holds the GPU's memory, as far as nvidia-smi can tell. */
static void vram_holders(const char *uuid, char *out, size_t n)
{
	char cmd[256], line[256];
	size_t used = 0;
	FILE *p;

	snprintf(out, n, "nvidia-smi cannot tell who holds it");
	if (!*uuid)
		return;
	/* timeout(1): a wedged driver can hang nvidia-smi, and this runs on
	 * the way to exiting with a message. */
	snprintf(cmd, sizeof cmd, "timeout 10 nvidia-smi --query-compute-apps="
	         "pid,process_name,used_memory --format=csv,noheader -i %s 2>/dev/null",
	         uuid);
	p = popen(cmd, "r");
	if (!p)
		return;
	while (fgets(line, sizeof line, p) && used + 8 < n) {
		line[strcspn(line, "\n")] = 0;
		if (!*line)
			continue;
		int k = snprintf(out + used, n - used, "%s%s",
		                 used ? "; " : "held by (pid, process, memory): ", line);
		if (k > 0)
			used += (size_t)k;
	}
	if (pclose(p) != 0 && !used)
		snprintf(out, n, "nvidia-smi cannot tell who holds it");
	else if (!used)
		snprintf(out, n, "nvidia-smi lists no compute process holding it "
		         "(the display, or processes in other containers, may)");
}

static int allocate_export(struct cuda_be *cb, const struct vs_config *cfg,
                           const char *uuid)
{
	size_t free_b = 0, total_b = 0;
	char s1[32], s2[32], s3[32];
	uint64_t step = cfg->step ? cfg->step : (512ull << 20);
	uint64_t min = cfg->min_size < VS_BLOCK ? VS_BLOCK : cfg->min_size;
	vs_curesult r = cb->api.cuMemGetInfo_v2(&free_b, &total_b);

	if (r != 0) {
		startup_error(cb, "cuMemGetInfo", r);
		return -1;
	}
	uint64_t size = vs_size_resolve(&cfg->size, free_b) & ~(uint64_t)(VS_BLOCK - 1);
	fmt_size(s1, sizeof s1, size);
	fmt_size(s2, sizeof s2, free_b);
	if (cfg->size.percent)
		vs_log(LOG_INFO, "cuda: --size %u%% of %s free VRAM = %s",
		       cfg->size.percent, s2, s1);
	if (size < min) {
		fmt_size(s3, sizeof s3, min);
		vs_log(LOG_ERR, "cuda: the size asked for (%s) is below --min-size "
		       "(%s) with %s of VRAM free: lower --min-size or free VRAM",
		       s1, s3, s2);
		return -1;
	}
	for (;;) {
		r = cb->api.cuMemAlloc_v2(&cb->base, size);
		fmt_size(s1, sizeof s1, size);
		if (r == 0) {
			vs_log(LOG_INFO, "cuda: allocated %s of VRAM for the export", s1);
			cb->size = size;
			return 0;
		}
		if (r != VS_CUDA_ERROR_OUT_OF_MEMORY) {
			startup_error(cb, "cuMemAlloc", r);
			return -1;
		}
		uint64_t next = size >= min + step ? size - step : (size > min ? min : 0);
		if (!next)
			break;
		fmt_size(s2, sizeof s2, next);
		vs_log(LOG_WARNING, "cuda: allocating %s of VRAM failed (%s, %d); "
		       "trying %s", s1, result_name(cb, r), (int)r, s2);
		size = next;
	}
	char who[512];
	free_b = total_b = 0;
	cb->api.cuMemGetInfo_v2(&free_b, &total_b);
	fmt_size(s1, sizeof s1, min);
	fmt_size(s2, sizeof s2, free_b);
	fmt_size(s3, sizeof s3, total_b);
	vram_holders(uuid, who, sizeof who);
	vs_log(LOG_ERR, "cuda: cannot allocate even --min-size %s of VRAM on GPU "
	       "%d (CUDA_ERROR_OUT_OF_MEMORY, 2): %s of %s free; %s", s1,
	       cb->ordinal, s2, s3, who);
	return -1;
}

/* ---- open / close ------------------------------------------------------- */

static int make_current(struct cuda_be *cb)
{
	if (tls_ctx == cb->ctx)
		return 0;
	vs_curesult r = cb->api.cuCtxSetCurrent(cb->ctx);
	if (r != 0) {
		vs_log(LOG_ERR, "cuda: cuCtxSetCurrent failed: %s (%d)",
		       result_name(cb, r), (int)r);
		return -1;
	}
	tls_ctx = cb->ctx;
	return 0;
}

/* Waits for everything queued on a stream. Spinning on cuStreamQuery
 * instead was measured (H100: no difference at queue depth 1; H200: 2 us)
 * and not kept. */
static vs_curesult wait_stream(const struct cuda_be *cb, vs_custream s)
{
	return cb->api.cuStreamSynchronize(s);
}

/* A copy that must work unless the device is gone. */
static vs_curesult probe_copy(struct cuda_be *cb, vs_custream s)
{
	vs_curesult r = cb->api.cuMemcpyHtoDAsync_v2(cb->probe, cb->probe_host,
	                                              VS_BLOCK, s);
	vs_curesult r2 = wait_stream(cb, s);
	return r ? r : r2;
}

/* Tries one batched copy at start-up; a driver that refuses the arguments
 * keeps the plain loop of copies. */
static void try_batch(struct cuda_be *cb)
{
	const char *env = getenv("VRAM_SWAP_CUDA_BATCH");
	vs_custream s;
	vs_cudeviceptr d[2], src[2];
	size_t sz[2] = {2048, 2048}, idx = 0;
	vs_cumemcpyattributes a;

	cb->use_batch = false;
	if (env && !strcmp(env, "0")) {
		vs_log(LOG_INFO, "cuda: batched copies off (VRAM_SWAP_CUDA_BATCH=0)");
		return;
	}
	if (!cb->api.cuMemcpyBatchAsync_v2) {
		vs_log(LOG_INFO, "cuda: driver has no cuMemcpyBatchAsync_v2; one "
		       "copy call per segment");
		return;
	}
	if (cb->api.cuStreamCreate(&s, VS_CU_STREAM_NON_BLOCKING) != 0)
		return;
	memset(&a, 0, sizeof a);
	a.src_access_order = VS_CU_MEMCPY_SRC_ACCESS_ORDER_STREAM;
	a.src_loc_hint.type = VS_CU_MEM_LOCATION_TYPE_HOST;
	a.dst_loc_hint.type = VS_CU_MEM_LOCATION_TYPE_DEVICE;
	a.dst_loc_hint.id = cb->ordinal;
	d[0] = cb->probe;
	d[1] = cb->probe + 2048;
	src[0] = (vs_cudeviceptr)(uintptr_t)cb->probe_host;
	src[1] = (vs_cudeviceptr)(uintptr_t)cb->probe_host + 2048;
	vs_curesult r = cb->api.cuMemcpyBatchAsync_v2(d, src, sz, 2, &a, &idx, 1, s);
	vs_curesult r2 = cb->api.cuStreamSynchronize(s);
	cb->api.cuStreamDestroy_v2(s);
	if (r || r2) {
		vs_log(LOG_NOTICE, "cuda: cuMemcpyBatchAsync_v2 refused a test copy "
		       "(%s, %d); one copy call per segment", result_name(cb, r ? r : r2),
		       (int)(r ? r : r2));
		return;
	}
	cb->use_batch = true;
	vs_log(LOG_INFO, "cuda: batched copies with cuMemcpyBatchAsync_v2");
}

static void cuda_close(struct vs_backend *be);

static int cuda_open(struct vs_backend *be, const struct vs_config *cfg)
{
	struct cuda_be *cb = calloc(1, sizeof *cb);
	char uuid[64], tot[32], fre[32];
	size_t total = 0, free_b = 0;
	vs_curesult r;

	if (!cb) {
		vs_log(LOG_ERR, "cuda: out of memory");
		return -1;
	}
	atomic_flag_clear(&cb->lost_logged);
	be->priv = cb;
	if (load_library(cb) < 0)
		goto fail;
	r = cb->api.cuInit(0);
	if (r != 0) {
		startup_error(cb, "cuInit", r);
		goto fail;
	}
	cb->api.cuDriverGetVersion(&cb->driver_version);
	if (pick_device(cb, cfg->device) < 0)
		goto fail;
	r = cb->api.cuDevicePrimaryCtxRetain(&cb->ctx, cb->dev);
	if (r != 0) {
		startup_error(cb, "creating a context (cuDevicePrimaryCtxRetain)", r);
		cb->ctx = NULL;
		goto fail;
	}
	if (make_current(cb) < 0)
		goto fail;

	cb->api.cuDeviceGetName(be->device_name, sizeof be->device_name, cb->dev);
	cb->api.cuDeviceGetPCIBusId(be->device_bus_id, sizeof be->device_bus_id, cb->dev);
	uuid_string(cb, cb->dev, uuid, sizeof uuid);
	snprintf(be->device_uuid, sizeof be->device_uuid, "%s", uuid);
	cb->api.cuDeviceTotalMem_v2(&total, cb->dev);
	cb->api.cuMemGetInfo_v2(&free_b, &total);
	fmt_size(tot, sizeof tot, total);
	fmt_size(fre, sizeof fre, free_b);
	vs_log(LOG_INFO, "cuda: GPU %d: %s, %s, bus %s, %s total, %s free; driver "
	       "CUDA %d.%d (%s)", cb->ordinal, be->device_name,
	       uuid[0] ? uuid : "no UUID", be->device_bus_id, tot, fre,
	       cb->driver_version / 1000, cb->driver_version % 1000 / 10, cb->lib_path);

	/* Scratch first, so the export's back-off sees what is really left. */
	r = cb->api.cuMemAlloc_v2(&cb->probe, VS_BLOCK);
	if (r == 0)
		r = cb->api.cuMemHostAlloc(&cb->probe_host, VS_BLOCK, VS_CU_MEMHOSTALLOC_PORTABLE);
	if (r != 0) {
		startup_error(cb, "allocating 4 KiB of scratch", r);
		goto fail;
	}
	memset(cb->probe_host, 0, VS_BLOCK);
	if (allocate_export(cb, cfg, uuid) < 0)
		goto fail;
	try_batch(cb);
	be->size = cb->size;
	return 0;
fail:
	cuda_close(be);
	return -1;
}

static void cuda_close(struct vs_backend *be)
{
	struct cuda_be *cb = be->priv;

	if (!cb)
		return;
	if (cb->ctx && make_current(cb) == 0) {
		if (cb->base)
			cb->api.cuMemFree_v2(cb->base);
		if (cb->probe)
			cb->api.cuMemFree_v2(cb->probe);
		if (cb->probe_host)
			cb->api.cuMemFreeHost(cb->probe_host);
		cb->api.cuDevicePrimaryCtxRelease_v2(cb->dev);
	}
	/* libcuda stays loaded: unloading a driver library with threads of its
	 * own is not safe, and the process is ending anyway. */
	free(cb);
	be->priv = NULL;
}

static void *cuda_buf_alloc(struct vs_backend *be, size_t len)
{
	struct cuda_be *cb = be->priv;
	void *p = NULL;

	if (make_current(cb) < 0)
		return NULL;
	vs_curesult r = cb->api.cuMemHostAlloc(&p, len, VS_CU_MEMHOSTALLOC_PORTABLE);
	if (r != 0) {
		char s[32];
		fmt_size(s, sizeof s, len);
		vs_log(LOG_ERR, "cuda: cannot pin %s of host memory for staging: %s "
		       "(%d); check `ulimit -l` / LimitMEMLOCK", s, result_name(cb, r),
		       (int)r);
		return NULL;
	}
	return p;
}

static void cuda_buf_free(struct vs_backend *be, void *p, size_t len)
{
	struct cuda_be *cb = be->priv;

	(void)len;
	if (p && cb && make_current(cb) == 0)
		cb->api.cuMemFreeHost(p);
}

static int cuda_queue_open(struct vs_backend *be, struct vs_queue **qp)
{
	struct cuda_be *cb = be->priv;
	struct vs_queue *q = calloc(1, sizeof *q);

	if (!q || make_current(cb) < 0) {
		free(q);
		return -1;
	}
	q->cb = cb;
	vs_curesult r = cb->api.cuStreamCreate(&q->stream, VS_CU_STREAM_NON_BLOCKING);
	if (r != 0) {
		vs_log(LOG_ERR, "cuda: cuStreamCreate failed: %s (%d)",
		       result_name(cb, r), (int)r);
		free(q);
		return -1;
	}
	*qp = q;
	return 0;
}

static void cuda_queue_close(struct vs_queue *q)
{
	if (!q)
		return;
	if (make_current(q->cb) == 0)
		q->cb->api.cuStreamDestroy_v2(q->stream);
	free(q);
}

/* ---- the I/O path ------------------------------------------------------- */

static unsigned fail_all(struct vs_seg *s, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		s[i].err = EIO;
	return n;
}

static void device_lost(struct cuda_be *cb, vs_curesult r)
{
	atomic_store(&cb->lost, true);
	if (atomic_flag_test_and_set(&cb->lost_logged))
		return;
	vs_log(LOG_CRIT, "cuda: GPU %d is lost: %s (%d); every page held in its "
	       "VRAM is gone. Answering every request with EIO from now on; the "
	       "daemon keeps running so that the kernel sees errors, not a "
	       "vanished device. Look for Xid lines in `dmesg`, swapoff, then "
	       "restart vram-swapd", cb->ordinal, result_name(cb, r), (int)r);
}

/* Segments [i, j) that can move as one copy: same direction, adjacent in
 * the export and in host memory. */
static unsigned run_end(const struct vs_seg *s, unsigned i, unsigned n)
{
	unsigned j = i + 1;
	while (j < n && s[j].dir == s[i].dir &&
	       s[j].off == s[j - 1].off + s[j - 1].len &&
	       (char *)s[j].buf == (char *)s[j - 1].buf + s[j - 1].len &&
	       (uint64_t)s[j].off - s[i].off + s[j].len <= UINT32_MAX)
		j++;
	return j;
}

static vs_curesult copy_one(struct vs_queue *q, const struct vs_seg *s, size_t len)
{
	struct cuda_be *cb = q->cb;
	vs_cudeviceptr d = cb->base + s->off;

	return s->dir == VS_TO_BACKEND
		? cb->api.cuMemcpyHtoDAsync_v2(d, s->buf, len, q->stream)
		: cb->api.cuMemcpyDtoHAsync_v2(s->buf, d, len, q->stream);
}

/* Submits every segment; returns the first failure (later copies are not
 * submitted after one fails: the recovery pass redoes them one by one). */
static vs_curesult submit(struct vs_queue *q, const struct vs_seg *s, unsigned n)
{
	struct cuda_be *cb = q->cb;
	unsigned k = 0;

	for (unsigned i = 0; i < n;) {
		unsigned j = run_end(s, i, n);
		size_t len = (size_t)(s[j - 1].off + s[j - 1].len - s[i].off);
		if (!cb->use_batch) {
			vs_curesult r = copy_one(q, &s[i], len);
			if (r)
				return r;
		} else {
			vs_cudeviceptr d = cb->base + s[i].off;
			vs_cudeviceptr h = (vs_cudeviceptr)(uintptr_t)s[i].buf;
			bool w = s[i].dir == VS_TO_BACKEND;
			q->dsts[k] = w ? d : h;
			q->srcs[k] = w ? h : d;
			q->sizes[k] = len;
			if (++k == BATCH_MAX || j == n) {
				vs_cumemcpyattributes a;
				size_t idx = 0;
				memset(&a, 0, sizeof a);
				a.src_access_order = VS_CU_MEMCPY_SRC_ACCESS_ORDER_STREAM;
				a.src_loc_hint.type = VS_CU_MEM_LOCATION_TYPE_HOST;
				a.dst_loc_hint.type = VS_CU_MEM_LOCATION_TYPE_DEVICE;
				a.dst_loc_hint.id = cb->ordinal;
				vs_curesult r = k == 1 ? copy_one(q, &s[i], len)
					: cb->api.cuMemcpyBatchAsync_v2(q->dsts, q->srcs,
					      q->sizes, k, &a, &idx, 1, q->stream);
				if (r)
					return r;
				k = 0;
			}
		}
		i = j;
	}
	return 0;
}

/* Something in the batch failed: find what, one copy and one
 * synchronisation at a time, so that only the failed requests see EIO. */
static unsigned recover(struct vs_queue *q, struct vs_seg *s, unsigned n,
                        vs_curesult first)
{
	struct cuda_be *cb = q->cb;
	unsigned failed = 0;

	if (maybe_sticky(first) && probe_copy(cb, q->stream) != 0) {
		device_lost(cb, first);
		return fail_all(s, n);
	}
	vs_log(LOG_WARNING, "cuda: a batch of %u copies failed with %s (%d); "
	       "redoing them one at a time", n, result_name(cb, first), (int)first);
	for (unsigned i = 0; i < n; i++) {
		vs_curesult r = copy_one(q, &s[i], s[i].len);
		vs_curesult r2 = wait_stream(cb, q->stream);
		if (!r)
			r = r2;
		if (!r)
			continue;
		if (maybe_sticky(r) && probe_copy(cb, q->stream) != 0) {
			device_lost(cb, r);
			return fail_all(s, n);
		}
		s[i].err = EIO;
		failed++;
		vs_log(LOG_ERR, "cuda: %s of %u bytes at offset %llu failed: %s (%d); "
		       "answered EIO", s[i].dir == VS_TO_BACKEND ? "write" : "read",
		       s[i].len, (unsigned long long)s[i].off, result_name(cb, r), (int)r);
	}
	return failed;
}

static unsigned cuda_xfer(struct vs_queue *q, struct vs_seg *s, unsigned n)
{
	struct cuda_be *cb = q->cb;

	if (atomic_load_explicit(&cb->lost, memory_order_relaxed))
		return fail_all(s, n);
	if (make_current(cb) < 0)
		return fail_all(s, n);
	for (unsigned i = 0; i < n; i++) {
		s[i].err = 0;
		if (s[i].off + s[i].len > cb->size || s[i].off + s[i].len < s[i].off) {
			/* The core checks bounds; reaching here is a bug. */
			vs_log(LOG_ERR, "cuda: segment at %llu+%u beyond the export",
			       (unsigned long long)s[i].off, s[i].len);
			return fail_all(s, n);
		}
	}
	vs_curesult r = submit(q, s, n);
	/* Synchronise even after a failed submission: earlier copies of the
	 * batch are in flight and own the buffers until they finish. */
	vs_curesult r2 = wait_stream(cb, q->stream);
	if (!r && !r2)
		return 0;
	return recover(q, s, n, r ? r : r2);
}

static int cuda_flush(struct vs_queue *q)
{
	/* xfer() synchronises before returning: nothing is ever pending. */
	return atomic_load_explicit(&q->cb->lost, memory_order_relaxed) ? EIO : 0;
}

const struct vs_backend_ops vs_backend_cuda = {
	.name = "cuda",
	.open = cuda_open,
	.buf_alloc = cuda_buf_alloc,
	.buf_free = cuda_buf_free,
	.queue_open = cuda_queue_open,
	.queue_close = cuda_queue_close,
	.xfer = cuda_xfer,
	.flush = cuda_flush,
	.close = cuda_close,
};
