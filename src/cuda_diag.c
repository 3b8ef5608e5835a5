/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the cuda backend says when start-up fails: the cause as far as it
 * can be told, and the fix. */
#include "cuda_be.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

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
void vs_cuda_startup_error(const struct cuda_be *cb, const char *what, vs_curesult r)
{
	char why[1024], a[128];
	const char *uvm = "/dev/nvidia-uvm";
	const char *cvd = getenv("CUDA_VISIBLE_DEVICES");

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
	vs_log(LOG_ERR, "cuda: %s failed: %s (%d): %s", what, vs_cuda_result_name(cb, r),
	       (int)r, why);
}

/* Names what holds the GPU's memory, as far as nvidia-smi can tell. */
void vs_cuda_holders(const char *uuid, char *out, size_t n)
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
