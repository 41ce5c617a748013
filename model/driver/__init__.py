"""Driver programs: a driver's code paths as sequences of kernel calls over kernel objects.

``Driver`` declares the objects (refcounted objects, fences, dma-bufs and
their attachments, reservation objects, mutexes and spinlocks, publication
slots such as fds and idr handles) and the threads; each thread body is
written on a ``Code`` builder, one kernel call per line. ``compile`` turns
it into an ordinary model that every engine reads; the rules the calls
carry are the properties of ``properties.kernel_objects``.
"""

from dmabuf_check.model.driver.code import DONE, Code
from dmabuf_check.model.driver.compile import DriverInfo, compile_driver, info_of
from dmabuf_check.model.driver.objects import ERR_PTR, Attachment, DmaBuf, Fence, KObject, Mutex, Resv, Slot, SpinLock, WaitQueue
from dmabuf_check.model.driver.program import Driver

__all__ = ["DONE", "ERR_PTR", "Attachment", "Code", "DmaBuf", "Driver", "DriverInfo", "Fence", "KObject", "Mutex",
           "Resv", "Slot", "SpinLock", "WaitQueue", "compile_driver",
           "info_of"]
