"""The dma-buf core's own objects: the file, its dentry, the global buffer list.

The struct dma_buf lives as long as anything can reach it: the file (fds, mmaps) and the dentry
(/proc/<pid>/fd readlink calls dmabuffs_dname(), which reads the buffer's name), so it is freed when
the last dentry reference goes (d_release), not at the file's release. It is put on the global
db_list (read by debugfs and the sysfs stats) only once fully initialised. Modeled on
dma_buf_export(), dma_buf_release() and dmabuffs_dname() (drivers/dma-buf/dma-buf.c).

Threads: ``close`` (the last fput of the buffer's file), ``readlink`` (d_path on /proc/pid/fd/N,
holding a dentry reference), ``bufinfo`` (debugfs reading the listed buffer's inode), ``export``
(dma_buf_export of a second buffer), ``getfile`` (dma_buf_getfile, whose file allocation may fail
after the dentry exists), ``debugfs`` (dma_buf_debug_show walking db_list).
"""

from __future__ import annotations

from dmabuf_check.model.design import Bug
from dmabuf_check.model.driver import Driver

NAME = "dmabuf-file"


def make(bug: str | None = None) -> Driver:
    d = Driver(NAME if bug is None else f"bug-{bug}", follows="drivers/dma-buf/dma-buf.c",
               title="the dma-buf's lifetime follows its dentry; db_list only holds initialised buffers")
    dmabuf = d.mem("dmabuf", live=True, owner="dentry", kernel="struct dma_buf")
    inode = d.mem("inode", live=True, owner="dentry", kernel="the file's inode (iput at dentry unlink)")
    db_lock = d.mutex("db_list.lock")
    listed = d.slot("db_list.dmabuf", dmabuf, kind="list", installed=True, holds_ref=False)

    def unlist(k):
        k.mutex_lock(db_lock)
        k.unpublish(listed, text="list_del(&dmabuf->list_node)")
        k.mutex_unlock(db_lock)

    def dentry_release(k):  # dentry_operations.d_release == dma_buf_release() from v5.8 on
        if bug != "dmabuf-release-in-fops":
            if bug == "dmabuf-debugfs-inode-uaf":
                k.call(unlist)  # still on db_list after its inode went
            k.kfree(dmabuf, "dma_buf_release(): kfree(dmabuf)")

    dentry = d.kref("dentry", live=True, owners=("file", "readlink"), release=dentry_release)

    def file_release(k):  # file_operations.release
        if bug == "dmabuf-release-in-fops":
            k.call(unlist)
            k.kfree(dmabuf, "dma_buf_release() in f_op->release: kfree(dmabuf)")
        elif bug != "dmabuf-debugfs-inode-uaf":
            k.call(unlist)  # dma_buf_file_release(): off db_list before the inode goes
        k.kfree(inode, "dput() -> dentry_unlink_inode() -> iput(inode)")
        k.kref_put(dentry, "dput(file->f_path.dentry)")

    file = d.kref("file", kind="file", live=True, owners=("close",), release=file_release)
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

    third = d.mem("exporting_dmabuf", live=True, owner=d.holder("dma_buf_export"))
    fsdata = d.slot("dentry->d_fsdata", third, kind="ptr", holds_ref=False)

    def new_dentry_release(k):  # dma_buf_release() as the new dentry's d_release
        if bug == "dmabuf-release-null-fsdata":
            k.use_slot(fsdata, "dmabuf = dentry->d_fsdata; BUG_ON(dmabuf->vmapping_counter)")
        else:
            k.peek(fsdata, fail="unset", text="if (unlikely(!dentry->d_fsdata)) return")
            k.use(third, "BUG_ON(dmabuf->vmapping_counter)")
            k.label("unset")

    new_dentry = d.kref("new_dentry", release=new_dentry_release)

    @d.thread("getfile", kernel="dma_buf_getfile()")
    def getfile(k):
        k.kzalloc(new_dentry, fail="out", text="alloc_file_pseudo(): d_alloc_pseudo()")
        k.may_goto("fail", "alloc_file_pseudo() fails after the dentry exists")
        k.publish(fsdata, "file->f_path.dentry->d_fsdata = dmabuf")
        k.label("fail")
        k.kref_put(new_dentry, "path_put(&path) / fput(file): dput(dentry)")
        k.label("out")

    @d.userspace("bufinfo", kernel="dma_buf_debug_show() on the exported buffer")
    def bufinfo(k):
        k.mutex_lock(db_lock)
        k.peek(listed, fail="empty", text="list_for_each_entry(buf_obj, &db_list.head, list_node)")
        k.use(inode, "file_inode(buf_obj->file)->i_ino")
        k.label("empty")
        k.mutex_unlock(db_lock)

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
    "dmabuf-debugfs-inode-uaf": Bug(
        NAME, "unlink the buffer from db_list only in d_release, after iput() freed its inode", "use-after-free",
        ("KOBJ-1", "REF-8"), "05cd84691eaf 'dmabuf: fix use-after-free of dmabuf's file->f_inode'",
        "sub-object lifetime"),
    "dmabuf-release-null-fsdata": Bug(
        NAME, "dma_buf_release() dereferences d_fsdata, which a failed alloc_file_pseudo() never set",
        "null-deref", ("KOBJ-5",), "19a508bd1ad8 'dmabuf: fix NULL pointer dereference in dma_buf_release()'",
        "release before init"),
    "dmabuf-export-init-order": Bug(
        NAME, "list_add to db_list before the buffer's locks and lists are initialised", "use-before-init",
        ("KOBJ-2", "REF-1"), "f728a5ea27c9 'dma-buf: fix dma_buf_export init order v2'", "publication before init"),
}
