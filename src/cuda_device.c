/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Choosing the GPU: by index, by UUID (GPU-..., as nvidia-smi -L prints
 * it) or by PCI bus id. */
#include "cuda_be.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

void vs_cuda_uuid(const struct cuda_be *cb, vs_cudevice d, char *out, size_t n)
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
		vs_cuda_uuid(cb, d, uuid, sizeof uuid);
		int k = snprintf(out + used, n - used, "%s%d %s (%s, %s)",
		                 i ? "; " : "", i, name, uuid, bus);
		if (k < 0)
			break;
		used += (size_t)k;
	}
}

int vs_cuda_pick_device(struct cuda_be *cb, const char *spec)
{
	int count = 0;
	vs_curesult r = cb->api.cuDeviceGetCount(&count);
	char gpus[1024];
	const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
	unsigned want[4];

	if (r != 0) {
		vs_cuda_startup_error(cb, "cuDeviceGetCount", r);
		return -1;
	}
	if (count == 0) {
		vs_cuda_startup_error(cb, "finding a GPU", VS_CUDA_ERROR_NO_DEVICE);
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
				vs_cuda_uuid(cb, d, id, sizeof id);
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
		vs_cuda_startup_error(cb, "cuDeviceGet", r);
		return -1;
	}
	return 0;
}
