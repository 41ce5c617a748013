"""Paths of dma-buf.c itself, written as driver code: the buffer's name read by d_path() while
DMA_BUF_SET_NAME replaces it, and dma_buf_export()'s error path after the file exists.

dmabuffs_dname() runs under d_path()'s RCU walk, so the lock it reads dmabuf->name under must not sleep
(a spinlock, not dmabuf->lock); the old name is freed under that lock. In dma_buf_export(), once the file
exists its release (dma_buf_file_release) takes the buffer off db_list, so anything that can fail after
dma_buf_getfile() must come after the list_add, or the release deletes an entry that was never added.
Modeled on dma_buf_set_name() / dmabuffs_dname() and dma_buf_export() / dma_buf_stats_setup()
(drivers/dma-buf/dma-buf.c, dma-buf-sysfs-stats.c).

Threads: ``set_name`` (DMA_BUF_SET_NAME), ``readlink`` (readlink of /proc/self/fd/N: d_path ->
dmabuffs_dname), ``export`` (dma_buf_export, its exporter's later dma_buf_put).
"""

from __future__ import annotations

from dmabuf_check.model.design import Bug
from dmabuf_check.model.driver import Driver

NAME = "dmabuf-core-paths"


def make(bug: str | None = None) -> Driver:
    d = Driver(NAME if bug is None else f"bug-{bug}", follows="drivers/dma-buf/dma-buf.c",
               title="the name under a lock d_path may take, the export error path after the list_add")
    _name(d, bug)
    _export(d, bug)
    return d


def _name(d: Driver, bug: str | None) -> None:
    sleeping = bug == "dmabuf-dname-mutex"
    lock = d.mutex("dmabuf->lock") if sleeping else d.spinlock("dmabuf->name_lock")
    old, new = d.mem("old_name", live=True), d.mem("new_name")
    name = d.pointer("dmabuf->name", (old, new), init=old)  # the buffer owns its name

    def take(k):
        (k.mutex_lock if sleeping else k.spin_lock)(lock)

    def drop(k):
        (k.mutex_unlock if sleeping else k.spin_unlock)(lock)

    @d.thread("set_name", kernel="DMA_BUF_SET_NAME: dma_buf_set_name()")
    def set_name(k):
        k.kzalloc(new, fail="out", text="name = strndup_user(buf, DMA_BUF_NAME_LEN)")
        take(k)
        k.ptr_xchg(name, new, "old = dmabuf->name; dmabuf->name = name")
        drop(k)
        k.kfree(old, "kfree(old)")  # nothing reads the old name once the lock was dropped
        k.label("out")

    @d.thread("readlink", kernel="readlink(/proc/self/fd/N): d_path() -> dmabuffs_dname()")
    def readlink(k):
        k.rcu_read_lock()  # d_path() walks the dentries under RCU
        take(k)
        k.ptr_use(name, "snprintf(name, sizeof(name), \"%s\", dmabuf->name ?: \"\")")
        drop(k)
        k.rcu_read_unlock()


def _export(d: Driver, bug: str | None) -> None:
    early = bug == "dma-buf-stats-before-list"
    db_lock = d.mutex("db_list.lock")

    def file_release(k):  # dma_buf_file_release(): the file's last fput takes the buffer off the list
        k.mutex_lock(db_lock)
        k.unpublish(db_list, text="list_del(&dmabuf->list_node)")
        k.mutex_unlock(db_lock)

    dmabuf = d.mem("dmabuf", kernel="struct dma_buf")
    file = d.kref("dmabuf->file", kind="file", release=file_release, kernel="struct file")
    db_list = d.slot("db_list.head", file, kind="list", holds_ref=False, lock=db_lock)

    def stats_setup(k):  # dma_buf_stats_setup(): kobject_init_and_add() may fail
        k.may_goto("fail", text="kobject_init_and_add(&sysfs_entry->kobj, ...)")
        k.ret(0)
        k.label("fail")
        k.ret("-ENOMEM")

    @d.thread("export", kernel="dma_buf_export(), then the exporter's dma_buf_put()")
    def export(k):
        k.kzalloc(dmabuf, fail="err_module", text="dmabuf = kzalloc(alloc_size, GFP_KERNEL)")
        k.kzalloc(file, fail="err_dmabuf", text="file = dma_buf_getfile(dmabuf, exp_info->flags)")
        if early:
            k.call(stats_setup, fail="err_sysfs")
        k.mutex_lock(db_lock)
        k.publish(db_list, "list_add(&dmabuf->list_node, &db_list.head)")
        k.mutex_unlock(db_lock)
        if not early:
            k.call(stats_setup, fail="err_sysfs")
        k.use(dmabuf, "return dmabuf: the exporter uses it")
        k.fput(file, "dma_buf_put(dmabuf): fput(dmabuf->file)")
        k.kfree(dmabuf, "dma_buf_release(): kfree(dmabuf)")
        k.ret(0)
        k.label("err_sysfs")
        k.fput(file, "fput(file): dma_buf_file_release()")
        k.label("err_dmabuf")
        k.kfree(dmabuf, "err_dmabuf: kfree(dmabuf)")
        k.label("err_module")


DESIGN = make()

BUGS = {
    "dmabuf-dname-mutex": Bug(
        NAME, "read dmabuf->name under dmabuf->lock (a mutex) in dmabuffs_dname(), inside d_path()'s RCU walk",
        "sleep-in-atomic", ("CTX-1",), "6348dd291e36 'dmabuf: use spinlock to access dmabuf->name'",
        "sleeping lock in atomic context"),
    "dma-buf-stats-before-list": Bug(
        NAME, "call dma_buf_stats_setup() before the list_add: its failure fputs a file whose release list_dels "
        "an entry never added", "list-del-unlisted", ("KOBJ-4",),
        "ef3a6b70507a 'dma-buf: call dma_buf_stats_setup after dmabuf is in valid list'", "error path order"),
}
