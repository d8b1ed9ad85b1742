"""A job's local folder walked safely: no file outside the folder is ever read.

IO edge. By default no symbolic link is followed (a link is skipped, with a warning); with the
job's `follow_symlinks = true`, links whose target stays inside the job's folder are followed.
A directory reached twice (a `parent -> ..` link, a loop of links) is walked once. Every skipped
entry is reported once, with why. Bucket URLs (s3://, gs://, az://) have no links and are
listed by dlt's filesystem source.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


@dataclass(frozen=True)
class Skipped:
    path: str  # relative to the job's folder
    why: str


@dataclass
class Listing:
    files: list[tuple[str, Path]] = field(default_factory=list)  # (relative path, path to read)
    skipped: list[Skipped] = field(default_factory=list)


def local_root(bucket_url: str) -> Path | None:
    """The folder of a local bucket URL (a path or file://), None for a remote one."""
    if bucket_url.startswith("file://"):
        return Path(unquote(urlparse(bucket_url).path))
    if _SCHEME.match(bucket_url):
        return None
    return Path(bucket_url)


def glob_regex(file_glob: str) -> re.Pattern[str]:
    """A glob over relative POSIX paths: `*` and `?` within a name, `**/` any depth."""
    out, i = [], 0
    while i < len(file_glob):
        if file_glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif file_glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif file_glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif file_glob[i] == "?":
            out.append("[^/]")
            i += 1
        elif file_glob[i] == "[" and (end := file_glob.find("]", i + 1)) > i:
            out.append("[" + file_glob[i + 1 : end].replace("!", "^", 1) + "]")
            i = end + 1
        else:
            out.append(re.escape(file_glob[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def walk(root: Path, file_glob: str, follow_symlinks: bool = False) -> Listing:
    """The files under `root` that match `file_glob`, and every entry skipped on the way."""
    listing = Listing()
    real_root = root.resolve()
    pattern = glob_regex(file_glob)
    seen: set[tuple[int, int]] = set()
    for relative, path in _entries(root, "", real_root, follow_symlinks, seen, listing):
        if pattern.match(relative):
            listing.files.append((relative, path))
    listing.files.sort()
    return listing


def _entries(
    folder: Path,
    prefix: str,
    real_root: Path,
    follow: bool,
    seen: set[tuple[int, int]],
    listing: Listing,
) -> Iterator[tuple[str, Path]]:
    stat = folder.stat()
    if (stat.st_dev, stat.st_ino) in seen:
        listing.skipped.append(Skipped(prefix.rstrip("/") or ".", "a loop: folder already read"))
        return
    seen.add((stat.st_dev, stat.st_ino))
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        listing.skipped.append(Skipped(prefix or ".", f"cannot be listed ({exc.strerror})"))
        return
    for entry in entries:
        relative = prefix + entry.name
        path = Path(entry.path)
        if entry.is_symlink():
            why = _link_problem(path, real_root, follow)
            if why:
                listing.skipped.append(Skipped(relative, why))
                continue
        try:
            is_dir, is_file = path.is_dir(), path.is_file()
        except OSError as exc:
            listing.skipped.append(Skipped(relative, f"cannot be read ({exc.strerror})"))
            continue
        if is_dir:
            yield from _entries(path, relative + "/", real_root, follow, seen, listing)
        elif is_file:
            yield relative, path
        else:
            listing.skipped.append(Skipped(relative, "not a regular file"))


def _link_problem(path: Path, real_root: Path, follow: bool) -> str | None:
    if not follow:
        return "a symbolic link (set follow_symlinks = true to follow links inside the folder)"
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return "a broken or looping symbolic link"
    if not target.is_relative_to(real_root):
        return "a symbolic link to outside the job's folder (never followed)"
    return None


def modified(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)
