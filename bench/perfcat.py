#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Sums `perf report --stdio --no-children --sort dso,sym` shares of the
daemon into the stages of a request. By symbol name, without call graphs,
so approximate: a kernel helper shared by several stages is booked where
it mostly serves (the daemon's _copy_to_iter is its recv copy, its
_copy_from_iter the reply's copy into the socket).

Usage: perf report ... | bench/perfcat.py
"""
import re
import sys

STAGES = [
    ("copy to/from the export", r"memmove|memcpy|host_xfer|copy_to_export|vs_page_is_zero|vs_store_"),
    ("sleep and wake-up (waiting for the next request, waking the client)",
     r"finish_task_switch|__schedule|schedule|_raw_spin_unlock_irqrestore|try_to_wake_up|"
     r"enqueue|dequeue|pick_next|update_curr|update_load|select_task|ttwu|__wake_up|"
     r"autoremove_wake|prepare_to_wait|set_next_entity|psi_|switch_mm|__switch_to|"
     r"pv_queued_spin_unlock|native_sched_clock|sched_"),
    ("receive: recv() and copying requests out of the socket",
     r"recv|unix_stream_read|_copy_to_iter|__skb_datagram_iter|skb_release|consume_skb|"
     r"kfree|__slab_free|kmem_cache_free|free_frozen|free_unref|page_counter_uncharge|"
     r"memcg1_uncharge|__memcg_slab_free|uncharge|skb_free_head|unix_destruct|sock_wfree|"
     r"__check_object_size|__check_heap_object|__virt_addr_valid|simple_copy_to_iter"),
    ("reply: sendmsg() and copying replies into the socket",
     r"sendmsg|unix_stream_sendmsg|_copy_from_iter|alloc_skb|__alloc_pages|alloc_frozen|"
     r"kmalloc|kmem_cache_alloc|page_counter_charge|__memcg_slab_post|mod_memcg|"
     r"charge|skb_|sock_alloc_send|get_page_from_freelist|rmqueue|clear_page|"
     r"copy_msghdr|import_iovec|iov_iter|sendv_full|__account_obj_stock|obj_cgroup"),
    ("protocol: parsing, batching, reply headers",
     r"vs_conn_serve|flush_batch|vs_req_|queue|put_reply|transmission"),
    ("system call entry and file lookup",
     r"do_syscall_64|entry_SYSCALL|syscall_exit|fdget|fput|__fget|syscall_return|"
     r"exit_to_user|__x64_sys|__sys_|pthread_(en|dis)able_asynccancel|_raw_spin_lock"),
]


def main():
    shares = {name: 0.0 for name, _ in STAGES}
    other = 0.0
    for line in sys.stdin:
        m = re.match(r"\s*([\d.]+)%\s+\S+\s+\[[.k]\]\s+(\S+)", line)
        if not m:
            continue
        pct, sym = float(m.group(1)), m.group(2)
        for name, pat in STAGES:
            if re.search(pat, sym):
                shares[name] += pct
                break
        else:
            other += pct
    for name, _ in STAGES:
        print("  %5.1f%%  %s" % (shares[name], name))
    print("  %5.1f%%  other" % other)


if __name__ == "__main__":
    main()
