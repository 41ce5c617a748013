"""Reading the files a user names (designs, rules, traces, lemmas): regular files of a bounded size only.

A device or a FIFO given as an input would be read forever (``--rules /dev/zero`` filled the memory) or
block; a file far larger than any input of its kind is a mistake, not a design.
"""

from __future__ import annotations

import os
import stat

from dmabuf_check.model.types import ModelError

MIB = 1 << 20
DATA_SUFFIXES = (".toml", ".json")  # a design as data (model.design_data): parsed, never run


def read_bytes(path: str | os.PathLike[str], what: str, limit: int, error: type[ModelError] = ModelError) -> bytes:
    """The content of ``path``, refused in one line (``error``) unless it is a regular file of at most ``limit``
    bytes."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise error(f"{what} {path} not found") from None
    except OSError as e:
        raise error(f"cannot read {what} {path}: {e.strerror or e}") from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"{what} {path} is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{what} {path} is not a regular file (a device, FIFO or socket is never read)")
    if st.st_size > limit:
        raise error(f"{what} {path} is {st.st_size / MIB:,.1f} MiB, more than the {limit / MIB:,.0f} MiB such a "
                    "file can be")
    try:
        with open(path, "rb") as f:
            data = f.read(min(limit, st.st_size) + 1)  # read(n) allocates n bytes at once
    except OSError as e:
        raise error(f"cannot read {what} {path}: {e.strerror or e}") from None
    if len(data) > min(limit, st.st_size):  # it grew while we read it
        raise error(f"{what} {path} changed while it was read")
    return data
