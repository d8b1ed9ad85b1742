"""Presets: one module per export format, each mapping raw collections to canonical records.

A preset module provides `map_files(files, context) -> MappedRows`, and may provide
`name_collections(files)` (name CSV/JSONL collections by their columns) and `REREAD_ALL_ON`
(collection names whose arrival changes records in other files, e.g. Twilio recordings: then the
job's files are all read again). What presets share (time parsing, phones, durations) lives in
sources/exports/common.py; assembling canonical tables and rejections in canonical.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from sources.exports.canonical import MapContext, MappedRows, SourceFile

PRESET_NAMES = ("twilio",)


def _no_naming(files: list[SourceFile]) -> None:
    return None


@dataclass(frozen=True)
class Preset:
    name: str
    map_files: Callable[[list[SourceFile], MapContext], MappedRows]
    name_collections: Callable[[list[SourceFile]], None] = _no_naming
    reread_all_on: tuple[str, ...] = ()


def _from_module(name: str, module: ModuleType) -> Preset:
    return Preset(
        name,
        module.map_files,
        getattr(module, "name_collections", _no_naming),
        tuple(getattr(module, "REREAD_ALL_ON", ())),
    )


def get_preset(name: str) -> Preset:
    """The preset called `name`; ValueError listing the known ones otherwise."""
    from sources.exports.presets import twilio

    modules = {"twilio": twilio}
    if name not in modules:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(PRESET_NAMES)}")
    return _from_module(name, modules[name])
