"""Presets: one module per export format, each mapping raw collections to canonical records.

A preset module provides `map_files(files, context) -> MappedRows`, and may provide
`name_collections(files)` (name CSV/JSONL collections by their columns) and `REREAD_ALL_ON`
(collection names whose arrival changes records in other files, e.g. Twilio recordings: then the
job's files are all read again). What presets share (time parsing, phones, durations, ids,
nested JSON paths) lives in sources/exports/common.py; the steps every preset takes (stacking
collections with provenance, `require_id_and_start`, folding duplicates of a source id,
`finish` into canonical tables, rejections) in canonical.py. A preset is then a table of field
names plus the few rules its format needs. `generic` maps any export through a TOML mapping file
(sources/exports/mapping.py) passed as `MapContext.options["mapping"]`. A preset whose folding
groups rows by a key of the raw row may give `PARTITION_KEYS` and `SIDE_COLLECTIONS`; big jobs are
then staged partition by partition (sources/exports/partitions.py).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from sources.exports.canonical import MapContext, MappedRows, SourceFile

PRESET_NAMES = (
    "twilio",
    "aircall",
    "zoom",
    "salesforce",
    "ringcentral",
    "dialpad",
    "gong",
    "generic",  # needs MapContext.options["mapping"] (sources/exports/mapping.py)
)


def _no_naming(files: list[SourceFile]) -> None:
    return None


@dataclass(frozen=True)
class Preset:
    name: str
    map_files: Callable[[list[SourceFile], MapContext], MappedRows]
    name_collections: Callable[[list[SourceFile]], None] = _no_naming
    reread_all_on: tuple[str, ...] = ()
    partition_keys: dict[str, Any] = field(default_factory=dict)  # see partitions.py
    side_collections: dict[str, Any] = field(default_factory=dict)


def _from_module(name: str, module: ModuleType) -> Preset:
    return Preset(
        name,
        module.map_files,
        getattr(module, "name_collections", _no_naming),
        tuple(getattr(module, "REREAD_ALL_ON", ())),
        dict(getattr(module, "PARTITION_KEYS", {})),
        dict(getattr(module, "SIDE_COLLECTIONS", {})),
    )


def get_preset(name: str) -> Preset:
    """The preset called `name`; ValueError listing the known ones otherwise."""
    if name not in PRESET_NAMES:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(PRESET_NAMES)}")
    return _from_module(name, importlib.import_module(f"sources.exports.presets.{name}"))
