/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "nbd_netlink.h"

#include <errno.h>
#include <linux/genetlink.h>
#include <linux/nbd-netlink.h>
#include <linux/netlink.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Every message fits: a header, a few numbers, a 128-byte identifier and
 * up to 64 sockets of 12 bytes each. */
#define MSG_MAX 4096

struct msg {
	union {
		struct nlmsghdr h;
		char buf[MSG_MAX];
	};
	bool full;
};

static void start(struct msg *m, uint16_t family, uint8_t cmd, uint32_t seq)
{
	memset(m, 0, sizeof *m);
	m->h.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
	m->h.nlmsg_type = family;
	m->h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	m->h.nlmsg_seq = seq;
	struct genlmsghdr *g = NLMSG_DATA(&m->h);
	g->cmd = cmd;
	g->version = 1;
}

/* Appends an attribute; returns its offset (for nest_end), or 0 if full. */
static size_t put(struct msg *m, uint16_t type, const void *data, size_t len)
{
	size_t off = NLMSG_ALIGN(m->h.nlmsg_len), total = NLA_HDRLEN + len;
	if (m->full || off + NLA_ALIGN(total) > sizeof m->buf) {
		m->full = true;
		return 0;
	}
	struct nlattr *a = (struct nlattr *)(m->buf + off);
	a->nla_type = type;
	a->nla_len = (uint16_t)total;
	if (len)
		memcpy(m->buf + off + NLA_HDRLEN, data, len);
	m->h.nlmsg_len = (uint32_t)(off + NLA_ALIGN(total));
	return off;
}

static void put_u32(struct msg *m, uint16_t type, uint32_t v) { put(m, type, &v, sizeof v); }
static void put_u64(struct msg *m, uint16_t type, uint64_t v) { put(m, type, &v, sizeof v); }
static void put_str(struct msg *m, uint16_t type, const char *s) { put(m, type, s, strlen(s) + 1); }

/* A nested attribute spans from its header to the end of the message. */
static void nest_end(struct msg *m, size_t off)
{
	if (!m->full && off)
		((struct nlattr *)(m->buf + off))->nla_len = (uint16_t)(m->h.nlmsg_len - off);
}

/* The first attribute of type in a genetlink message's payload, or NULL. */
static const struct nlattr *find_attr(const struct nlmsghdr *h, uint16_t type)
{
	size_t off = NLMSG_LENGTH(GENL_HDRLEN);
	while (off + NLA_HDRLEN <= h->nlmsg_len) {
		const struct nlattr *a = (const struct nlattr *)((const char *)h + off);
		if (a->nla_len < NLA_HDRLEN || off + a->nla_len > h->nlmsg_len)
			return NULL;
		if ((a->nla_type & NLA_TYPE_MASK) == type)
			return a;
		off += NLA_ALIGN(a->nla_len);
	}
	return NULL;
}

/* Sends m and reads until its acknowledgement: 0 or -errno. If reply is
 * set, the first attribute of type reply_attr in a reply is copied to it
 * (reply_len bytes). */
static int exchange(int fd, struct msg *m, uint16_t reply_attr, void *reply, size_t reply_len)
{
	if (m->full)
		return -EMSGSIZE;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	if (sendto(fd, m->buf, m->h.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0)
		return -errno;
	uint32_t seq = m->h.nlmsg_seq;
	static _Thread_local char in[8192];
	for (;;) {
		ssize_t n = recv(fd, in, sizeof in, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)in; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != seq)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);
				return e->error;   /* 0 is the acknowledgement */
			}
			const struct nlattr *a = reply ? find_attr(h, reply_attr) : NULL;
			if (a && a->nla_len >= NLA_HDRLEN + reply_len)
				memcpy(reply, (const char *)a + NLA_HDRLEN, reply_len);
		}
	}
}

static int open_nl(char *why, size_t n)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (fd < 0) {
		int e = errno;
		snprintf(why, n, "cannot open a generic netlink socket: %s", strerror(e));
		return -e;
	}
	/* The kernel answers within a request; a limit keeps a wedged one
	 * from holding the control thread for ever. */
	struct timeval tv = { .tv_sec = 10 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return fd;
}

/* The nbd family's number: > 0, or -errno. */
static int family(int fd, char *why, size_t n)
{
	struct msg m;
	start(&m, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1);
	put_str(&m, CTRL_ATTR_FAMILY_NAME, NBD_GENL_FAMILY_NAME);
	uint16_t id = 0;
	int rc = exchange(fd, &m, CTRL_ATTR_FAMILY_ID, &id, sizeof id);
	if (rc == -ENOENT || (!rc && !id)) {
		snprintf(why, n, "the kernel has no nbd netlink family (is the nbd module loaded? "
		         "modprobe nbd)");
		return -ENOENT;
	}
	if (rc) {
		snprintf(why, n, "cannot look up the nbd netlink family: %s", strerror(-rc));
		return rc;
	}
	return id;
}

static void say_refused(int rc, const char *what, int index, char *why, size_t n)
{
	const char *hint = rc == -EBUSY ? " (the device is in use)"
	                 : rc == -EPERM ? " (CAP_SYS_ADMIN is needed)"
	                 : rc == -EINVAL ? " (the kernel log says why)" : "";
	if (index >= 0)
		snprintf(why, n, "the kernel refused to %s nbd%d: %s%s", what, index,
		         strerror(-rc), hint);
	else
		snprintf(why, n, "the kernel refused to %s an nbd device: %s%s", what,
		         strerror(-rc), hint);
}

int vs_nl_connect(const struct vs_nl_connect *c, int *index, char *why, size_t n)
{
	int fd = open_nl(why, n);
	if (fd < 0)
		return fd;
	int fam = family(fd, why, n);
	if (fam < 0) {
		close(fd);
		return fam;
	}
	struct msg m;
	start(&m, (uint16_t)fam, NBD_CMD_CONNECT, 2);
	if (c->index >= 0)
		put_u32(&m, NBD_ATTR_INDEX, (uint32_t)c->index);
	put_u64(&m, NBD_ATTR_SIZE_BYTES, c->size);
	put_u64(&m, NBD_ATTR_BLOCK_SIZE_BYTES, 4096);
	put_u64(&m, NBD_ATTR_SERVER_FLAGS, c->flags);
	if (c->dead_s)
		put_u64(&m, NBD_ATTR_DEAD_CONN_TIMEOUT, c->dead_s);
	put_str(&m, NBD_ATTR_BACKEND_IDENTIFIER, c->backend);
	size_t socks = put(&m, NBD_ATTR_SOCKETS, NULL, 0);
	for (unsigned i = 0; i < c->nfds; i++) {
		size_t item = put(&m, NBD_SOCK_ITEM, NULL, 0);
		put_u32(&m, NBD_SOCK_FD, (uint32_t)c->fds[i]);
		nest_end(&m, item);
	}
	nest_end(&m, socks);
	uint32_t got = UINT32_MAX;
	int rc = exchange(fd, &m, NBD_ATTR_INDEX, &got, sizeof got);
	close(fd);
	if (rc) {
		say_refused(rc, "connect", c->index, why, n);
		return rc;
	}
	if (got == UINT32_MAX) {
		snprintf(why, n, "the kernel connected a device without saying which");
		return -EPROTO;
	}
	*index = (int)got;
	return 0;
}

int vs_nl_reconnect(int index, int sock, const char *backend, char *why, size_t n)
{
	int fd = open_nl(why, n);
	if (fd < 0)
		return fd;
	int fam = family(fd, why, n);
	if (fam < 0) {
		close(fd);
		return fam;
	}
	struct msg m;
	start(&m, (uint16_t)fam, NBD_CMD_RECONFIGURE, 2);
	put_u32(&m, NBD_ATTR_INDEX, (uint32_t)index);
	put_str(&m, NBD_ATTR_BACKEND_IDENTIFIER, backend);
	size_t socks = put(&m, NBD_ATTR_SOCKETS, NULL, 0);
	size_t item = put(&m, NBD_SOCK_ITEM, NULL, 0);
	put_u32(&m, NBD_SOCK_FD, (uint32_t)sock);
	nest_end(&m, item);
	nest_end(&m, socks);
	int rc = exchange(fd, &m, 0, NULL, 0);
	close(fd);
	if (rc)
		say_refused(rc, "give a new connection to", index, why, n);
	return rc;
}
