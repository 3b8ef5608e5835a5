/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The few CUDA Driver API entry points vram-swapd uses, declared by hand so
 * that neither the build nor the run needs a CUDA toolkit: libcuda.so.1 (the
 * driver's library) is dlopen()ed and these are resolved by their versioned
 * symbol names. tests/cuda/apicheck.c compiles this file against a real
 * cuda.h (where one exists) and fails on any difference in signature or
 * layout; with VS_CUDA_API_CHECK defined the type names below map onto
 * cuda.h's, so that the checker compares signatures, not spellings.
 */
#ifndef VS_CUDA_API_H
#define VS_CUDA_API_H

#include <stddef.h>

/* Our own spelling of the few structures we pass (checked against cuda.h). */
struct vs_cuuuid_st { char bytes[16]; };
struct vs_cumemlocation_st {
	int type;   /* CUmemLocationType */
	int id;
};
/* Virtual memory management: an allocation made this way can be exported
 * as a file descriptor that keeps it alive after the process dies. */
struct vs_cumemallocationprop_st {
	int type;                    /* CUmemAllocationType */
	int requested_handle_types;  /* CUmemAllocationHandleType */
	struct vs_cumemlocation_st location;
	void *win32_handle_meta_data;
	struct {
		unsigned char compression_type;
		unsigned char gpu_direct_rdma_capable;
		unsigned short usage;
		unsigned char reserved[4];
	} alloc_flags;
};
struct vs_cumemaccessdesc_st {
	struct vs_cumemlocation_st location;
	int flags;                   /* CUmemAccess_flags */
};
struct vs_cumemcpyattributes_st {
	int src_access_order;            /* CUmemcpySrcAccessOrder */
	struct vs_cumemlocation_st src_loc_hint;
	struct vs_cumemlocation_st dst_loc_hint;
	unsigned int flags;
};

#ifdef VS_CUDA_API_CHECK
typedef CUresult vs_curesult;
typedef CUdevice vs_cudevice;
typedef CUcontext vs_cucontext;
typedef CUstream vs_custream;
typedef CUdeviceptr vs_cudeviceptr;
typedef CUuuid vs_cuuuid;
typedef CUmemcpyAttributes vs_cumemcpyattributes;
typedef CUmemAllocationProp vs_cumemallocationprop;
typedef CUmemAccessDesc vs_cumemaccessdesc;
typedef CUmemGenericAllocationHandle vs_cumemhandle;
typedef CUdevice_attribute vs_cudevice_attribute;
typedef CUmemAllocationHandleType vs_cumemhandletype;
typedef CUmemAllocationGranularity_flags vs_cumemgranularity;
#else
typedef int vs_curesult;                    /* enum cudaError_enum */
typedef int vs_cudevice;
typedef struct vs_cuctx_st *vs_cucontext;
typedef struct vs_custream_st *vs_custream;
typedef unsigned long long vs_cudeviceptr;  /* 64-bit builds only */
typedef struct vs_cuuuid_st vs_cuuuid;
typedef struct vs_cumemcpyattributes_st vs_cumemcpyattributes;
typedef struct vs_cumemallocationprop_st vs_cumemallocationprop;
typedef struct vs_cumemaccessdesc_st vs_cumemaccessdesc;
typedef unsigned long long vs_cumemhandle;
typedef int vs_cudevice_attribute;
typedef int vs_cumemhandletype;
typedef int vs_cumemgranularity;
#endif

/*
 * X(name, value): the CUresult values we test or name, the one list of
 * them. It becomes the VS_<name> constants, the backend's names for a
 * driver that cannot name its own results (a stub, a failed cuInit), the
 * fake driver's cuGetErrorName, and the checker's comparisons with cuda.h.
 */
#define VS_CU_RESULTS(X) \
	X(CUDA_SUCCESS, 0) \
	X(CUDA_ERROR_INVALID_VALUE, 1) \
	X(CUDA_ERROR_OUT_OF_MEMORY, 2) \
	X(CUDA_ERROR_NOT_INITIALIZED, 3) \
	X(CUDA_ERROR_DEINITIALIZED, 4) \
	X(CUDA_ERROR_STUB_LIBRARY, 34) \
	X(CUDA_ERROR_DEVICE_UNAVAILABLE, 46) \
	X(CUDA_ERROR_NO_DEVICE, 100) \
	X(CUDA_ERROR_INVALID_DEVICE, 101) \
	X(CUDA_ERROR_INVALID_CONTEXT, 201) \
	X(CUDA_ERROR_ECC_UNCORRECTABLE, 214) \
	X(CUDA_ERROR_OPERATING_SYSTEM, 304) \
	X(CUDA_ERROR_NOT_READY, 600) \
	X(CUDA_ERROR_ILLEGAL_ADDRESS, 700) \
	X(CUDA_ERROR_CONTEXT_IS_DESTROYED, 709) \
	X(CUDA_ERROR_HARDWARE_STACK_ERROR, 714) \
	X(CUDA_ERROR_ILLEGAL_INSTRUCTION, 715) \
	X(CUDA_ERROR_MISALIGNED_ADDRESS, 716) \
	X(CUDA_ERROR_INVALID_ADDRESS_SPACE, 717) \
	X(CUDA_ERROR_INVALID_PC, 718) \
	X(CUDA_ERROR_LAUNCH_FAILED, 719) \
	X(CUDA_ERROR_NOT_SUPPORTED, 801) \
	X(CUDA_ERROR_SYSTEM_NOT_READY, 802) \
	X(CUDA_ERROR_SYSTEM_DRIVER_MISMATCH, 803) \
	X(CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE, 804) \
	X(CUDA_ERROR_UNKNOWN, 999)

#define VS_CU_RESULT_ENUM(name, value) VS_##name = value,
enum { VS_CU_RESULTS(VS_CU_RESULT_ENUM) };
#undef VS_CU_RESULT_ENUM

#define VS_CU_MEMHOSTALLOC_PORTABLE 0x01u
#define VS_CU_STREAM_NON_BLOCKING 0x1u
#define VS_CU_MEMCPY_SRC_ACCESS_ORDER_STREAM 1
#define VS_CU_MEM_LOCATION_TYPE_DEVICE 1
#define VS_CU_MEM_LOCATION_TYPE_HOST 2
#define VS_CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED 102
#define VS_CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED 103
#define VS_CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR 1
#define VS_CU_MEM_ALLOCATION_TYPE_PINNED 1
#define VS_CU_MEM_ACCESS_FLAGS_PROT_READWRITE 3
#define VS_CU_MEM_ALLOC_GRANULARITY_MINIMUM 0

/*
 * X(symbol, return type, parameters): every required entry point, by the
 * exact name libcuda exports. The backend turns this list into a table of
 * function pointers; the checker turns it into static assertions.
 */
#define VS_CUDA_FUNCS(X) \
	X(cuInit, vs_curesult, (unsigned int flags)) \
	X(cuDriverGetVersion, vs_curesult, (int *version)) \
	X(cuGetErrorName, vs_curesult, (vs_curesult err, const char **name)) \
	X(cuDeviceGet, vs_curesult, (vs_cudevice *dev, int ordinal)) \
	X(cuDeviceGetCount, vs_curesult, (int *count)) \
	X(cuDeviceGetName, vs_curesult, (char *name, int len, vs_cudevice dev)) \
	X(cuDeviceGetPCIBusId, vs_curesult, (char *bus_id, int len, vs_cudevice dev)) \
	X(cuDeviceTotalMem_v2, vs_curesult, (size_t *bytes, vs_cudevice dev)) \
	X(cuDeviceGetAttribute, vs_curesult, (int *value, vs_cudevice_attribute attr, \
	                                      vs_cudevice dev)) \
	X(cuDevicePrimaryCtxRetain, vs_curesult, (vs_cucontext *ctx, vs_cudevice dev)) \
	X(cuDevicePrimaryCtxRelease_v2, vs_curesult, (vs_cudevice dev)) \
	X(cuCtxSetCurrent, vs_curesult, (vs_cucontext ctx)) \
	X(cuMemGetInfo_v2, vs_curesult, (size_t *free_bytes, size_t *total_bytes)) \
	X(cuMemAlloc_v2, vs_curesult, (vs_cudeviceptr *dptr, size_t bytes)) \
	X(cuMemFree_v2, vs_curesult, (vs_cudeviceptr dptr)) \
	X(cuMemHostAlloc, vs_curesult, (void **p, size_t bytes, unsigned int flags)) \
	X(cuMemFreeHost, vs_curesult, (void *p)) \
	X(cuStreamCreate, vs_curesult, (vs_custream *stream, unsigned int flags)) \
	X(cuStreamDestroy_v2, vs_curesult, (vs_custream stream)) \
	X(cuStreamSynchronize, vs_curesult, (vs_custream stream)) \
	X(cuStreamQuery, vs_curesult, (vs_custream stream)) \
	X(cuMemcpyHtoDAsync_v2, vs_curesult, (vs_cudeviceptr dst, const void *src, \
	                                      size_t bytes, vs_custream stream)) \
	X(cuMemcpyDtoHAsync_v2, vs_curesult, (void *dst, vs_cudeviceptr src, \
	                                      size_t bytes, vs_custream stream))

/* Entry points that older drivers lack; resolved if present. The UUID call's
 * _v2 (11.4+) is the one cuda.h maps to; cuMemcpyBatchAsync_v2 is CUDA 13's
 * (12.8's unversioned one had an extra failure-index argument); the
 * virtual memory calls came with 10.2. */
#define VS_CUDA_OPT_FUNCS(X) \
	X(cuMemCreate, vs_curesult, (vs_cumemhandle *handle, size_t size, \
	  const vs_cumemallocationprop *prop, unsigned long long flags)) \
	X(cuMemRelease, vs_curesult, (vs_cumemhandle handle)) \
	X(cuMemAddressReserve, vs_curesult, (vs_cudeviceptr *ptr, size_t size, \
	  size_t alignment, vs_cudeviceptr addr, unsigned long long flags)) \
	X(cuMemAddressFree, vs_curesult, (vs_cudeviceptr ptr, size_t size)) \
	X(cuMemMap, vs_curesult, (vs_cudeviceptr ptr, size_t size, size_t offset, \
	  vs_cumemhandle handle, unsigned long long flags)) \
	X(cuMemUnmap, vs_curesult, (vs_cudeviceptr ptr, size_t size)) \
	X(cuMemSetAccess, vs_curesult, (vs_cudeviceptr ptr, size_t size, \
	  const vs_cumemaccessdesc *desc, size_t count)) \
	X(cuMemExportToShareableHandle, vs_curesult, (void *shareable, \
	  vs_cumemhandle handle, vs_cumemhandletype type, unsigned long long flags)) \
	X(cuMemImportFromShareableHandle, vs_curesult, (vs_cumemhandle *handle, \
	  void *os_handle, vs_cumemhandletype type)) \
	X(cuMemGetAllocationGranularity, vs_curesult, (size_t *granularity, \
	  const vs_cumemallocationprop *prop, vs_cumemgranularity option)) \
	X(cuDeviceGetUuid_v2, vs_curesult, (vs_cuuuid *uuid, vs_cudevice dev)) \
	X(cuDeviceGetUuid, vs_curesult, (vs_cuuuid *uuid, vs_cudevice dev)) \
	X(cuMemcpyBatchAsync_v2, vs_curesult, (vs_cudeviceptr *dsts, \
	  vs_cudeviceptr *srcs, size_t *sizes, size_t count, \
	  vs_cumemcpyattributes *attrs, size_t *attr_idxs, size_t num_attrs, \
	  vs_custream stream))

#define VS_CU_FNTYPE(sym, ret, params) typedef ret vs_##sym##_fn params;
VS_CUDA_FUNCS(VS_CU_FNTYPE)
VS_CUDA_OPT_FUNCS(VS_CU_FNTYPE)
#undef VS_CU_FNTYPE

#ifndef VS_CUDA_API_CHECK
struct vs_cuda_api {
#define VS_CU_PTR(sym, ret, params) vs_##sym##_fn *sym;
	VS_CUDA_FUNCS(VS_CU_PTR)
	VS_CUDA_OPT_FUNCS(VS_CU_PTR)
#undef VS_CU_PTR
};
#endif

#endif
