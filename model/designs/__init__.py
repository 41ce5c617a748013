"""Exporter designs: the built-in ones (modeled on real drivers) and the seeded-bug library (``designs.bugs``).

Every module defines ``DESIGN = Design(...)``; ``dmabuf-check check NAME``
checks a built-in design by name, ``dmabuf-check check path/to/design.py``
any design file. The registry of names is ``dmabuf_check.registry``.
"""

# Driver programs (``model.driver``): real code paths over kernel objects, in ``designs.programs``
PROGRAMS = ("export_fd", "gem_handles", "dmabuf_file", "fence_refs", "sched_fence_cb", "fence_locks", "out_fences",
            "held_waits", "fence_release", "prime_import", "vgem_fence", "fence_array_poll", "system_heap_paths",
            "driver_state", "fence_ops", "gem_dmabuf", "udmabuf_cpu", "dmabuf_poll", "exporter_errors", "teardown_waits",
            "signal_paths", "fence_waits", "dmabuf_core_paths", "sched_implicit_deps", "guc_wq_lock",
            "syncobj_eventfd", "sched_kill_irq_work", "virtio_gem_create", "cma_heap_cpu_access",
            "gem_lock_reservations")

BUILTIN = ("ttm_vram", "gem_prime", "system_heap", "udmabuf", "vb2_camera", "rfc2011_reference", "ttm_evict")
