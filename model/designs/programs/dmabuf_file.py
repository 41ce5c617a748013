"""The dma-buf core's own objects: the file, its dentry, the global buffer list.

The struct dma_buf lives as long as anything can reach it: the file (fds, mmaps) and the dentry
(/proc/<pid>/fd readlink calls dmabuffs_dname(), which reads the buffer's name), so it is freed when
the last dentry reference goes (d_release), not at the file's release. It is put on the global
db_list (read by debugfs and the sysfs stats) only once fully initialised. Modeled on
dma_buf_export(), dma_buf_release() and dmabuffs_dname() (drivers/dma-buf/dma-buf.c).

Threads: ``close`` (the last fput of the buffer's file), ``readlink`` (d_path on /proc/pid/fd/N,
holding a dentry reference), ``export`` (dma_buf_export of a second buffer), ``debugfs``
(dma_buf_debug_show walking db_list).
"""

from __future__ import annotations

from dmabuf_check.model.design import Bug
from dmabuf_check.model.driver import Driver

NAME = "dmabuf-file"


def make(bug: str | None = None) -> Driver:
    d = Driver(NAME if bug is None else f"bug-{bug}", follows="drivers/dma-buf/dma-buf.c",
               title="the dma-buf's lifetime follows its dentry; db_list only holds initialised buffers")
    dmabuf = d.mem("dmabuf", live=True, owner="dentry", kernel="struct dma_buf")

    def dentry_release(k):  # dentry_operations.d_release == dma_buf_release() from v5.8 on
        if bug != "dmabuf-release-in-fops":
            k.kfree(dmabuf, "dma_buf_release(): kfree(dmabuf)")

    dentry = d.kref("dentry", live=True, owners=("file", "readlink"), release=dentry_release)

    def file_release(k):  # file_operations.release
        if bug == "dmabuf-release-in-fops":
            k.kfree(dmabuf, "dma_buf_release() in f_op->release: kfree(dmabuf)")
        k.kref_put(dentry, "dput(file->f_path.dentry)")

    file = d.kref("file", kind="file", live=True, owners=("close",), release=file_release)
    db_lock = d.mutex("db_list.lock")
    buf2 = d.mem("new_dmabuf", kernel="struct dma_buf")
    db_list = d.slot("db_list", buf2, kind="list", holds_ref=False)
    fd2 = d.slot("fd", buf2, kind="fd")

    @d.userspace("close", kernel="close(fd): the last fput")
    def close(k):
        k.fput(file)

    @d.userspace("readlink", kernel="readlink(/proc/self/fd/N): d_path() -> d_op->d_dname")
    def readlink(k):
        k.use(dmabuf, "dmabuffs_dname(): spin_lock(&dmabuf->name_lock); dmabuf->name")
        k.kref_put(dentry, "dput(dentry)")

    @d.thread("export", kernel="dma_buf_export()")
    def export(k):
        k.kzalloc(buf2, initialised=False, fail="out", text="dmabuf = kzalloc(alloc_size)")
        if bug == "dmabuf-export-init-order":
            k.mutex_lock(db_lock)
            k.publish(db_list, "list_add(&dmabuf->list_node, &db_list.head)")
            k.mutex_unlock(db_lock)
            k.init(buf2, "mutex_init(&dmabuf->lock); INIT_LIST_HEAD(&dmabuf->attachments); dma_resv_init()")
        else:
            k.init(buf2, "mutex_init(&dmabuf->lock); INIT_LIST_HEAD(&dmabuf->attachments); dma_resv_init()")
            k.mutex_lock(db_lock)
            k.publish(db_list, "list_add(&dmabuf->list_node, &db_list.head)")
            k.mutex_unlock(db_lock)
        k.publish(fd2, "fd_install(fd, dmabuf->file) (the caller's reference)")
        k.label("out")

    @d.userspace("debugfs", kernel="dma_buf_debug_show()")
    def debugfs(k):
        k.mutex_lock(db_lock)
        k.peek(db_list, fail="empty", text="list_for_each_entry(buf_obj, &db_list.head, list_node)")
        k.use(buf2, "dma_resv_lock(buf_obj->resv); buf_obj->attachments")
        k.label("empty")
        k.mutex_unlock(db_lock)

    return d


DESIGN = make()

BUGS = {
    "dmabuf-release-in-fops": Bug(
        NAME, "free the dma_buf in f_op->release while its dentry is still referenced", "use-after-free",
        ("REF-8", "KOBJ-1"), "4ab59c3c638c 'dma-buf: Move dma_buf_release() from fops to dentry_ops' (dmabuffs_dname "
        "use-after-free reported by syzbot)", "sub-object lifetime"),
    "dmabuf-export-init-order": Bug(
        NAME, "list_add to db_list before the buffer's locks and lists are initialised", "use-before-init",
        ("KOBJ-2", "REF-1"), "f728a5ea27c9 'dma-buf: fix dma_buf_export init order v2'", "publication before init"),
}
