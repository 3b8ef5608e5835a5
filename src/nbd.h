/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Constants of the NBD protocol (fixed newstyle, simple replies only),
 * as the NBD project's proto.md defines them. */
#ifndef VS_NBD_H
#define VS_NBD_H

#define NBD_MAGIC              0x4e42444d41474943ULL /* "NBDMAGIC" */
#define NBD_IHAVEOPT           0x49484156454F5054ULL /* "IHAVEOPT" */
#define NBD_REP_MAGIC          0x0003e889045565a9ULL
#define NBD_REQUEST_MAGIC      0x25609513u
#define NBD_SIMPLE_REPLY_MAGIC 0x67446698u

/* handshake flags (server) and client flags */
#define NBD_FLAG_FIXED_NEWSTYLE  (1u << 0)
#define NBD_FLAG_NO_ZEROES       (1u << 1)
#define NBD_FLAG_C_FIXED_NEWSTYLE NBD_FLAG_FIXED_NEWSTYLE
#define NBD_FLAG_C_NO_ZEROES     NBD_FLAG_NO_ZEROES

/* options */
#define NBD_OPT_EXPORT_NAME      1
#define NBD_OPT_ABORT            2
#define NBD_OPT_LIST             3
#define NBD_OPT_STARTTLS         5
#define NBD_OPT_INFO             6
#define NBD_OPT_GO               7
#define NBD_OPT_STRUCTURED_REPLY 8

/* option replies */
#define NBD_REP_ACK              1u
#define NBD_REP_SERVER           2u
#define NBD_REP_INFO             3u
#define NBD_REP_FLAG_ERROR       (1u << 31)
#define NBD_REP_ERR_UNSUP        (NBD_REP_FLAG_ERROR | 1u)
#define NBD_REP_ERR_POLICY       (NBD_REP_FLAG_ERROR | 2u)
#define NBD_REP_ERR_INVALID      (NBD_REP_FLAG_ERROR | 3u)
#define NBD_REP_ERR_UNKNOWN      (NBD_REP_FLAG_ERROR | 6u)
#define NBD_REP_ERR_TOO_BIG      (NBD_REP_FLAG_ERROR | 9u)

/* NBD_REP_INFO types */
#define NBD_INFO_EXPORT          0
#define NBD_INFO_BLOCK_SIZE      3

/* transmission flags */
#define NBD_FLAG_HAS_FLAGS         (1u << 0)
#define NBD_FLAG_READ_ONLY         (1u << 1)
#define NBD_FLAG_SEND_FLUSH        (1u << 2)
#define NBD_FLAG_SEND_FUA          (1u << 3)
#define NBD_FLAG_ROTATIONAL        (1u << 4)
#define NBD_FLAG_SEND_TRIM         (1u << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES (1u << 6)
#define NBD_FLAG_SEND_DF           (1u << 7)
#define NBD_FLAG_CAN_MULTI_CONN    (1u << 8)
#define NBD_FLAG_SEND_CACHE        (1u << 10)
#define NBD_FLAG_SEND_FAST_ZERO    (1u << 11)

/* commands */
#define NBD_CMD_READ          0
#define NBD_CMD_WRITE         1
#define NBD_CMD_DISC          2
#define NBD_CMD_FLUSH         3
#define NBD_CMD_TRIM          4
#define NBD_CMD_CACHE         5
#define NBD_CMD_WRITE_ZEROES  6
#define NBD_CMD_BLOCK_STATUS  7

/* command flags */
#define NBD_CMD_FLAG_FUA       (1u << 0)
#define NBD_CMD_FLAG_NO_HOLE   (1u << 1)
#define NBD_CMD_FLAG_DF        (1u << 2)
#define NBD_CMD_FLAG_REQ_ONE   (1u << 3)
#define NBD_CMD_FLAG_FAST_ZERO (1u << 4)

/* error values on the wire */
#define NBD_EPERM      1
#define NBD_EIO        5
#define NBD_ENOMEM     12
#define NBD_EINVAL     22
#define NBD_ENOSPC     28
#define NBD_EOVERFLOW  75
#define NBD_ENOTSUP    95
#define NBD_ESHUTDOWN  108

#define NBD_REQUEST_SIZE 28
#define NBD_REPLY_SIZE   16

/* What we advertise: block sizes for NBD_INFO_BLOCK_SIZE. The kernel's
 * swap path needs 4096-byte blocks; 32 MiB is the largest payload the NBD
 * spec calls normal. */
#define VS_MIN_BLOCK   4096u
#define VS_MAX_PAYLOAD (32u << 20)
/* A WRITE payload up to this long is drained (refused, the stream stays in
 * sync); a longer one ends the connection, as nbdkit does. */
#define VS_MAX_DRAIN   (2 * VS_MAX_PAYLOAD)

#endif
