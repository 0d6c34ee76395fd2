"""A service's public disclosure (H10, 十公开): what the hall file may say about
each `[[services]]` entry beyond its name, department and time limits. Pure.

    [[services]]
    code = "A01"
    legal_basis = "《中华人民共和国市场主体登记管理条例》"
    procedure = ["申请", "受理", "审查", "决定", "发照"]
    conditions = ["名称已申报且符合规定", "有符合规定的住所"]
    materials = [
      { name = "公司登记（备案）申请书", copies = 1, note = "原件" },
      { name = "公司章程", copies = 1 },
    ]
    fees = []                         # free of charge (不收费)
    # fees = [{ item = "…", standard = "…", basis = "…" }]
    progress = "凭受理单上的受理编号到综合咨询台查询"

Every key is optional: a key left out is *not disclosed*, and the kiosk says
to ask at the desk for it (nothing is made up). A key that is given must say
something: an empty text or an empty list of steps, conditions or materials
is an error, so that a placeholder never passes for a disclosure. The one
exception is `fees = []`, which is a disclosure: no fee is charged. The same
structs are the catalogue API's (one definition, not two).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Protocol

import msgspec


class Material(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One required material (申请材料)."""

    name: str
    copies: Annotated[int, msgspec.Meta(ge=1, le=99)] | None = None  # 份数, where it matters
    note: str | None = None  # 原件/复印件, who issues it, when it is not needed …


class FeeItem(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One fee item (收费项目), its standard (收费标准) and its basis (收费依据)."""

    # H10 makes all three public, so all three are required.
    item: str
    standard: str
    basis: str


class Disclosed(Protocol):
    """The disclosure keys of a `[[services]]` entry (config.Service has them)."""

    @property
    def legal_basis(self) -> str | None: ...
    @property
    def procedure(self) -> tuple[str, ...] | None: ...
    @property
    def conditions(self) -> tuple[str, ...] | None: ...
    @property
    def materials(self) -> tuple[Material, ...] | None: ...
    @property
    def fees(self) -> tuple[FeeItem, ...] | None: ...  # () = free of charge
    @property
    def progress(self) -> str | None: ...


_LEAVE_OUT = "leave the key out where nothing is disclosed"
_EMPTY_LIST = "an empty list discloses nothing: list the {what}, or " + _LEAVE_OUT


def _blank(text: str | None) -> bool:
    return text is not None and not text.strip()


def _texts(where: str, texts: tuple[str, ...] | None, what: str) -> Iterator[tuple[str, str]]:
    if texts is None:
        return
    if not texts:
        yield where, _EMPTY_LIST.format(what=what)
    for j, text in enumerate(texts):
        if not text.strip():
            yield f"{where}[{j}]", "empty text"


def check(where: str, d: Disclosed) -> Iterator[tuple[str, str]]:
    """H10: what the types cannot say. `where` is the service's key path
    (`services[3]`); each problem is (key path, what is wrong)."""
    if _blank(d.legal_basis):
        yield f"{where}.legal_basis", f"empty text: name the law or regulation, or {_LEAVE_OUT}"
    yield from _texts(f"{where}.procedure", d.procedure, "steps")
    yield from _texts(f"{where}.conditions", d.conditions, "conditions")
    if d.materials is not None:
        yield from _materials(f"{where}.materials", d.materials)
    for j, fee in enumerate(d.fees or ()):
        for key in ("item", "standard", "basis"):
            if not getattr(fee, key).strip():
                yield (f"{where}.fees[{j}].{key}",
                       "empty text (H10: a fee's item, standard and basis are all public)")
    if _blank(d.progress):
        yield f"{where}.progress", f"empty text: say where progress is looked up, or {_LEAVE_OUT}"


def _materials(where: str, materials: tuple[Material, ...]) -> Iterator[tuple[str, str]]:
    if not materials:
        yield where, _EMPTY_LIST.format(what="materials")
    seen: set[str] = set()
    for j, m in enumerate(materials):
        name = m.name.strip()
        if not name:
            yield f"{where}[{j}].name", "empty text"
        elif name in seen:
            yield f"{where}[{j}].name", f'material "{name}" is listed twice'
        seen.add(name)
        if _blank(m.note):
            yield f"{where}[{j}].note", "empty text: write the note, or leave the key out"
