/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Holds src/cuda_api.h to a real cuda.h: every entry point's signature, the
 * layout of every structure we pass and every constant we use. Compiling is
 * the test; mk/cuda.mk skips it, saying so, where no cuda.h exists.
 */
#include <cuda.h>
#include <stddef.h>

#define VS_CUDA_API_CHECK
#include "cuda_api.h"

#define SAME_FN(sym, ret, params) \
	_Static_assert(__builtin_types_compatible_p(vs_##sym##_fn, __typeof__(sym)), \
	               #sym ": declaration differs from cuda.h");
VS_CUDA_FUNCS(SAME_FN)
VS_CUDA_OPT_FUNCS(SAME_FN)

#define SAME(a, b) _Static_assert((long long)(a) == (long long)(b), #a " != " #b)
SAME(sizeof(int), sizeof(CUresult));
SAME(sizeof(int), sizeof(CUdevice));
SAME(sizeof(unsigned long long), sizeof(CUdeviceptr));
SAME(sizeof(struct vs_cuuuid_st), sizeof(CUuuid));
SAME(sizeof(struct vs_cumemlocation_st), sizeof(CUmemLocation));
SAME(offsetof(struct vs_cumemlocation_st, type), offsetof(CUmemLocation, type));
SAME(offsetof(struct vs_cumemlocation_st, id), offsetof(CUmemLocation, id));
SAME(sizeof(struct vs_cumemcpyattributes_st), sizeof(CUmemcpyAttributes));
SAME(offsetof(struct vs_cumemcpyattributes_st, src_access_order),
     offsetof(CUmemcpyAttributes, srcAccessOrder));
SAME(offsetof(struct vs_cumemcpyattributes_st, src_loc_hint),
     offsetof(CUmemcpyAttributes, srcLocHint));
SAME(offsetof(struct vs_cumemcpyattributes_st, dst_loc_hint),
     offsetof(CUmemcpyAttributes, dstLocHint));
SAME(offsetof(struct vs_cumemcpyattributes_st, flags),
     offsetof(CUmemcpyAttributes, flags));
SAME(sizeof(int), sizeof(CUmemcpySrcAccessOrder));
SAME(sizeof(struct vs_cumemallocationprop_st), sizeof(CUmemAllocationProp));
SAME(offsetof(struct vs_cumemallocationprop_st, type), offsetof(CUmemAllocationProp, type));
SAME(offsetof(struct vs_cumemallocationprop_st, requested_handle_types),
     offsetof(CUmemAllocationProp, requestedHandleTypes));
SAME(offsetof(struct vs_cumemallocationprop_st, location),
     offsetof(CUmemAllocationProp, location));
SAME(offsetof(struct vs_cumemallocationprop_st, win32_handle_meta_data),
     offsetof(CUmemAllocationProp, win32HandleMetaData));
SAME(offsetof(struct vs_cumemallocationprop_st, alloc_flags),
     offsetof(CUmemAllocationProp, allocFlags));
SAME(sizeof(struct vs_cumemaccessdesc_st), sizeof(CUmemAccessDesc));
SAME(offsetof(struct vs_cumemaccessdesc_st, location), offsetof(CUmemAccessDesc, location));
SAME(offsetof(struct vs_cumemaccessdesc_st, flags), offsetof(CUmemAccessDesc, flags));
SAME(sizeof(int), sizeof(CUmemAllocationHandleType));
SAME(sizeof(int), sizeof(CUdevice_attribute));
SAME(sizeof(unsigned long long), sizeof(CUmemGenericAllocationHandle));
SAME(VS_CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED,
     CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED);
SAME(VS_CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED,
     CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED);
SAME(VS_CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR);
SAME(VS_CU_MEM_ALLOCATION_TYPE_PINNED, CU_MEM_ALLOCATION_TYPE_PINNED);
SAME(VS_CU_MEM_ACCESS_FLAGS_PROT_READWRITE, CU_MEM_ACCESS_FLAGS_PROT_READWRITE);
SAME(VS_CU_MEM_ALLOC_GRANULARITY_MINIMUM, CU_MEM_ALLOC_GRANULARITY_MINIMUM);
SAME(sizeof(int), sizeof(CUmemLocationType));

#define SAME_RESULT(name, value) SAME(VS_##name, name); SAME(VS_##name, value);
VS_CU_RESULTS(SAME_RESULT)
SAME(VS_CU_MEMHOSTALLOC_PORTABLE, CU_MEMHOSTALLOC_PORTABLE);
SAME(VS_CU_STREAM_NON_BLOCKING, CU_STREAM_NON_BLOCKING);
SAME(VS_CU_MEMCPY_SRC_ACCESS_ORDER_STREAM, CU_MEMCPY_SRC_ACCESS_ORDER_STREAM);
SAME(VS_CU_MEM_LOCATION_TYPE_DEVICE, CU_MEM_LOCATION_TYPE_DEVICE);
SAME(VS_CU_MEM_LOCATION_TYPE_HOST, CU_MEM_LOCATION_TYPE_HOST);

int main(void) { return 0; }
