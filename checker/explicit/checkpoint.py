"""Checkpoints of the breadth-first search: stop a long run, resume it to exactly the same result.

What the search needs to go on is small and flat: the stored states in BFS
order (the queue is that list, and the visited set is rebuilt from it), the
two parent-link arrays, the position of the next state to expand, the BFS
level, the counters, the coverage per action instance and the first violation
found per property. A checkpoint is one file, ``DIR/checkpoint.dmc``: a magic
line, a JSON header line, then the states, parents and links as raw bytes,
with a SHA-256 of those bytes in the header. It is written to a temporary file
in DIR, flushed to disk and renamed over the old one, so a run killed at any
moment (SIGKILL included) leaves the previous checkpoint or the new one whole,
never half of one. The header carries a fingerprint of the compiled check
(the generated expansion function, the property ids, symmetry), so a resume
with another model, option or version of the tool is refused with one line.
"""

from __future__ import annotations

import hashlib
import json
import os
from array import array
from dataclasses import dataclass, field
from pathlib import Path

from dmabuf_check.model.types import ModelError
from dmabuf_check.model.userfiles import read_bytes

MAGIC = b"DMABUF-CHECK-CHECKPOINT 1\n"
FILE = "checkpoint.dmc"
MAX_HEADER = 1 << 24  # a header line longer than this is no header of ours
CHUNK = 1 << 16  # states joined and written at a time
LIMIT = 1 << 40  # a checkpoint is as large as the search; the bound only keeps a device from being read


class CheckpointError(ModelError):
    """A checkpoint that cannot be written, read or used for this check: one line, exit 2."""


@dataclass
class Snapshot:
    """Everything the search loop needs to continue exactly where it stopped."""

    fingerprint: str
    command: str  # the command line that wrote it, for the message when another one tries to resume
    state_size: int
    states: list[bytes]
    parent: array
    via: array
    sid: int  # the next state to expand
    level_end: int
    depth: int
    transitions: int
    ends: int
    seconds: float  # exploration time spent before this snapshot, over every run that led to it
    cov: list[int]
    found: dict[str, int] = field(default_factory=dict)
    count: int = -1  # how many of ``states`` (and parent links) belong to the snapshot; -1: all of them

    def summary(self) -> str:
        return (f"{len(self.states):,} states stored, {self.sid:,} expanded, depth {self.depth}, "
                f"{self.seconds:.1f} s of search before")


def fingerprint(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\0")
    return h.hexdigest()


def path_in(directory: str | os.PathLike[str]) -> Path:
    return Path(directory) / FILE


def prepare(directory: str | os.PathLike[str]) -> Path:
    """Create DIR (and its parents) if missing; refuse what is not a writable directory, before any search."""
    d = Path(directory)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CheckpointError(f"--checkpoint {directory}: cannot create the directory: {e.strerror or e}") from None
    if not d.is_dir():
        raise CheckpointError(f"--checkpoint {directory}: not a directory")
    if not os.access(d, os.W_OK | os.X_OK):
        raise CheckpointError(f"--checkpoint {directory}: the directory is not writable")
    target = d / FILE
    try:
        odd = target.is_symlink() or (target.exists() and not target.is_file())
    except OSError as e:
        raise CheckpointError(f"--checkpoint {directory}: {e.strerror or e}") from None
    if odd:
        raise CheckpointError(f"--checkpoint {directory}: {target} exists and is not a regular file")
    for stale in d.glob(f".{FILE}.*.tmp"):  # a run killed (SIGKILL) while writing leaves its temporary file
        try:
            stale.unlink()
        except OSError:
            pass
    return d


def save(directory: str | os.PathLike[str], snap: Snapshot) -> Path:
    """Write the snapshot atomically (temporary file, fsync, rename); returns the checkpoint's path."""
    d = Path(directory)
    n = snap.count if snap.count >= 0 else len(snap.states)

    def payload():
        """The data in chunks: a run of 30 M states is never copied whole (a checkpoint costs little memory)."""
        for i in range(0, n, CHUNK):
            yield b"".join(snap.states[i: min(i + CHUNK, n)])
        yield memoryview(snap.parent)[:n].cast("B")
        yield memoryview(snap.via)[:n].cast("B")

    digest = hashlib.sha256()
    for part in payload():
        digest.update(part)
    header = {
        "fingerprint": snap.fingerprint, "command": snap.command, "state_size": snap.state_size,
        "states": n, "parent_itemsize": snap.parent.itemsize, "via_itemsize": snap.via.itemsize,
        "sid": snap.sid, "level_end": snap.level_end, "depth": snap.depth, "transitions": snap.transitions,
        "ends": snap.ends, "seconds": snap.seconds, "cov": snap.cov, "found": snap.found,
        "sha256": digest.hexdigest(),
    }
    target = d / FILE
    tmp = d / f".{FILE}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(MAGIC)
            f.write(json.dumps(header, separators=(",", ":")).encode() + b"\n")
            for part in payload():
                f.write(part)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
        _sync_dir(d)
    except BaseException as e:  # a full disk, or Ctrl-C while writing: no temporary file is left behind
        try:
            tmp.unlink()
        except OSError:
            pass
        if isinstance(e, OSError):
            raise CheckpointError(f"cannot write checkpoint {target}: {e.strerror or e}") from None
        raise
    return target


def _sync_dir(d: Path) -> None:
    """Make the rename itself durable (a power cut after it keeps the new name)."""
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load(directory: str | os.PathLike[str]) -> Snapshot:
    """Read and verify DIR's checkpoint; every problem is one line naming the file."""
    target = path_in(directory)
    try:
        is_dir = Path(directory).is_dir()
    except OSError as e:  # a name too long, a loop of symlinks
        raise CheckpointError(f"--resume {directory}: {e.strerror or e}") from None
    if not is_dir:
        raise CheckpointError(f"--resume {directory}: no such directory")
    if not target.exists() and not target.is_symlink():
        raise CheckpointError(f"--resume {directory}: no checkpoint there ({target} is missing)")
    data = read_bytes(target, f"--resume {directory}: checkpoint", LIMIT, CheckpointError)  # a regular file only
    if not data.startswith(MAGIC):
        raise CheckpointError(f"--resume {directory}: {target} is not a dmabuf-check checkpoint")
    end = data.find(b"\n", len(MAGIC), len(MAGIC) + MAX_HEADER)
    if end < 0:
        raise CheckpointError(f"--resume {directory}: {target} has a damaged header")
    line, rest = data[len(MAGIC): end], data[end + 1:]
    try:
        h = json.loads(line.decode())
        size, n = int(h["state_size"]), int(h["states"])
        pw, vw = int(h["parent_itemsize"]), int(h["via_itemsize"])
        cov = [int(x) for x in h["cov"]]
        found = {str(k): int(v) for k, v in dict(h["found"]).items()}
        fields = {k: int(h[k]) for k in ("sid", "level_end", "depth", "transitions", "ends")}
        seconds = float(h["seconds"])
        fp, command, digest = str(h["fingerprint"]), str(h["command"]), str(h["sha256"])
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError, RecursionError):
        raise CheckpointError(f"--resume {directory}: {target} has a damaged header") from None
    if size < 1 or n < 1 or not 0 <= fields["sid"] <= n or len(rest) != n * (size + pw + vw):
        raise CheckpointError(f"--resume {directory}: {target} is truncated or damaged "
                              f"({len(rest):,} bytes of data where the header says {n:,} states)")
    if hashlib.sha256(rest).hexdigest() != digest:
        raise CheckpointError(f"--resume {directory}: {target} is damaged (its checksum does not match)")
    blob = rest[: n * size]
    parent = array("I")
    via = array("H")
    if parent.itemsize != pw or via.itemsize != vw:
        raise CheckpointError(f"--resume {directory}: {target} was written on a machine with other array sizes")
    parent.frombytes(rest[n * size: n * (size + pw)])
    via.frombytes(rest[n * (size + pw):])
    states = [blob[i: i + size] for i in range(0, n * size, size)]
    return Snapshot(fp, command, size, states, parent, via, fields["sid"], fields["level_end"], fields["depth"],
                    fields["transitions"], fields["ends"], seconds, cov, found)
