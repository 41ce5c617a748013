"""Value types of the modeling language.

Every type has a finite domain once the model's parameters are fixed, and a
canonical integer encoding (``encode``/``decode``) that the explicit engine
stores in its flat state vectors. The z3 back end reads the same types and
picks its own encoding (bit-vectors, arrays over an unbounded index sort).
"""

from __future__ import annotations

from dataclasses import dataclass


class ModelError(Exception):
    """A model (or design) is malformed: reported to the user, exit code 2."""


@dataclass(frozen=True)
class IndexSet:
    """A symmetric index set (Murphi's scalarset): members are interchangeable.

    ``size`` is fixed when the model is instantiated; members are numbered
    1..size in everything a user reads and 0..size-1 internally.
    """

    name: str
    size: int
    member_label: str = "importer"

    def members(self) -> range:
        return range(self.size)


class Type:
    """Base of all value types."""

    def domain_size(self) -> int:
        raise NotImplementedError

    def encode(self, value: object) -> int:
        raise NotImplementedError

    def decode(self, code: int) -> object:
        raise NotImplementedError

    def show(self, code: int) -> str:
        return str(self.decode(code))


@dataclass(frozen=True)
class BoolType(Type):
    def domain_size(self) -> int:
        return 2

    def encode(self, value: object) -> int:
        if value in (0, 1, True, False):
            return int(value)  # type: ignore[arg-type]
        raise ModelError(f"{value!r} is not a boolean (use 0/1 or True/False)")

    def decode(self, code: int) -> object:
        return code

    def __str__(self) -> str:
        return "bool"


@dataclass(frozen=True)
class RangeType(Type):
    lo: int
    hi: int

    def domain_size(self) -> int:
        return self.hi - self.lo + 1

    def encode(self, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not self.lo <= value <= self.hi:
            raise ModelError(f"{value!r} is outside {self.lo}..{self.hi}")
        return value

    def decode(self, code: int) -> object:
        return code

    def __str__(self) -> str:
        return f"{self.lo}..{self.hi}"


@dataclass(frozen=True)
class EnumType(Type):
    name: str
    labels: tuple[str, ...]

    def domain_size(self) -> int:
        return len(self.labels)

    def encode(self, value: object) -> int:
        if value not in self.labels:
            raise ModelError(f"{value!r} is not one of {self.name} {{{', '.join(self.labels)}}}")
        return self.labels.index(value)  # type: ignore[arg-type]

    def decode(self, code: int) -> object:
        return self.labels[code]

    def __str__(self) -> str:
        return "{" + ", ".join(self.labels) + "}"


@dataclass(frozen=True)
class RefType(Type):
    """A reference to a member of an index set, or one of a few named specials.

    This is Murphi's ``union {enum, scalarset}``: the holder of a lock is FREE,
    EXP or importer i. Specials encode as 0..k-1, member m as k+m. Importer
    symmetry permutes the member values of a RefType variable.
    """

    index: IndexSet
    specials: tuple[str, ...]

    def domain_size(self) -> int:
        return len(self.specials) + self.index.size

    def encode(self, value: object) -> int:
        if isinstance(value, str):
            if value not in self.specials:
                raise ModelError(f"{value!r} is not one of {', '.join(self.specials)} or an {self.index.member_label}")
            return self.specials.index(value)
        if isinstance(value, Member):
            return len(self.specials) + value.index
        raise ModelError(f"{value!r} is not a value of {self}")

    def decode(self, code: int) -> object:
        k = len(self.specials)
        return self.specials[code] if code < k else Member(self.index.name, code - k)

    def show(self, code: int) -> str:
        k = len(self.specials)
        return self.specials[code] if code < k else f"{self.index.member_label} {code - k + 1}"

    def __str__(self) -> str:
        return "{" + ", ".join(self.specials) + f", {self.index.name}}}"


@dataclass(frozen=True)
class MemberType(Type):
    """The type of an action parameter or a quantified variable: one member."""

    index: IndexSet

    def domain_size(self) -> int:
        return self.index.size

    def encode(self, value: object) -> int:
        if isinstance(value, Member):
            return value.index
        raise ModelError(f"{value!r} is not an {self.index.member_label}")

    def decode(self, code: int) -> object:
        return Member(self.index.name, code)

    def __str__(self) -> str:
        return self.index.name


@dataclass(frozen=True)
class Member:
    """A concrete member of an index set (0-based internally)."""

    set_name: str
    index: int


BOOL = BoolType()


def Range(lo: int, hi: int) -> RangeType:  # noqa: N802 - reads like a type in model files
    if lo > hi:
        raise ModelError(f"empty range {lo}..{hi}")
    return RangeType(lo, hi)


def Enum(name: str, *labels: str) -> EnumType:  # noqa: N802
    if len(set(labels)) != len(labels) or not labels:
        raise ModelError(f"enumeration {name} needs distinct labels, got {labels}")
    return EnumType(name, tuple(labels))


def Ref(index: IndexSet, *specials: str) -> RefType:  # noqa: N802
    return RefType(index, tuple(specials))
