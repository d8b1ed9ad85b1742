"""Presets: one module per export format, each mapping raw collections to canonical records.

A preset is a function `map_files(files, context) -> MappedRows`. What presets share (time
parsing, phones, durations) lives in sources/exports/common.py; assembling canonical tables and
rejections lives in sources/exports/canonical.py.
"""

from __future__ import annotations

from collections.abc import Callable

from sources.exports.canonical import MapContext, MappedRows, SourceFile

PresetFn = Callable[[list[SourceFile], MapContext], MappedRows]


def get_preset(name: str) -> PresetFn:
    """The preset called `name`; ValueError listing the known ones otherwise."""
    from sources.exports.presets import twilio

    presets: dict[str, PresetFn] = {"twilio": twilio.map_files}
    if name not in presets:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(sorted(presets))}")
    return presets[name]


PRESET_NAMES = ("twilio",)
