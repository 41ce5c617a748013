"""ERR_PTR as a pointer value: not NULL (``if (!p)`` lets it through), caught only by IS_ERR, an oops when used."""

from __future__ import annotations

from dmabuf_check.model.driver import ERR_PTR, Driver

from tests.test_driver_programs import holds, run


def cached_sg(is_err_check: bool) -> Driver:
    """udmabuf's begin_cpu_access caches get_sg_table()'s result in ubuf->sg, ERR_PTR included (d9c04a1b7a15);
    release_udmabuf() puts what it finds there."""
    d = Driver("cached-sg")
    sg = d.mem("sg_table")
    cached = d.pointer("ubuf->sg", (sg,), holds_ref=True)

    def release(k):
        k.ptr_switch(cached, {sg: "free"}, null="done", err="done" if is_err_check else None,
                     text="if (ubuf->sg)" if not is_err_check else "if (!IS_ERR_OR_NULL(ubuf->sg))")
        k.ptr_use(cached, "put_sg_table(ubuf->sg)")  # only an ERR_PTR gets here
        k.label("free")
        k.ptr_xchg(cached, None, "sg = ubuf->sg; ubuf->sg = NULL")
        k.kfree(sg, "put_sg_table(sg)")
        k.label("done")

    buf = d.dma_buf("dmabuf", live=True, owners=("close", "sync"), ops={"release": release})

    @d.thread("sync")
    def sync(k):
        k.use(buf, "begin_cpu_udmabuf()")
        k.kzalloc(sg, fail="failed", text="sg = get_sg_table()")
        k.ptr_store(cached, sg, "ubuf->sg = sg")
        k.goto("out")
        k.label("failed")
        k.ptr_store(cached, ERR_PTR, "ubuf->sg = ERR_PTR(-ENOMEM)")
        k.label("out")
        k.dma_buf_put(buf)

    @d.userspace("close")
    def close(k):
        k.dma_buf_put(buf)

    return d


def test_a_null_check_lets_an_error_pointer_through_to_its_dereference():
    violated, *_ = run(cached_sg(is_err_check=False))
    assert violated == {"null-deref": 7}  # kzalloc fails, ERR_PTR stored, both puts, release derefs it


def test_an_is_err_check_holds_with_no_vacuous_action():
    assert holds(cached_sg(is_err_check=True)) == 26


def test_an_error_pointer_holds_no_reference_to_lose():
    d2 = Driver("store2")
    o2 = d2.kref("obj", live=True, owners=("t",))
    p2 = d2.pointer("p", (o2,))

    @d2.thread("t")
    def t(k):
        k.ptr_store(p2, ERR_PTR)  # the error first: nothing to lose
        k.ptr_store(p2, o2)
        k.ptr_xchg(p2, None)  # the reference comes back
        k.kref_put(o2)

    violated, *_ = run(d2)
    assert violated == {}


def test_an_error_pointer_stored_over_a_held_reference_leaks_it():
    d = Driver("store3")
    obj = d.kref("obj", live=True, owners=("t",))
    p = d.pointer("p", (obj,))

    @d.thread("t")
    def t(k):
        k.ptr_store(p, obj)
        k.ptr_store(p, ERR_PTR, "p = ERR_PTR(-EINVAL)")

    violated, *_ = run(d)
    assert violated == {"kref-leak": 1}


def test_an_is_err_branch_on_a_pointer_that_never_holds_one_is_accepted():
    d = Driver("never-err")
    obj = d.kref("obj", live=True, owners=("t",))
    p = d.pointer("p", (obj,))

    @d.thread("t")
    def t(k):
        k.ptr_switch(p, {obj: "put"}, null="out", err="out")
        k.label("put")
        k.label("out")
        k.kref_put(obj)

    assert holds(d) > 0
