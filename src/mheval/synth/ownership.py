"""The generator's claim on its output directory: it never overwrites or deletes files it did not write.

``generate_trial`` writes only into an empty (or missing) directory, or into one holding its own
marker file ``.mheval-synthetic`` (JSON: the generator's parameters and the list of files it
wrote). Before writing again into a marked directory it deletes exactly the files listed in the
marker, and nothing else; a directory holding any file the marker does not list (say, real CMS
files under a ``data.dir`` whose ``data.source`` was left at ``synthetic``) is refused with one
message and left as it was.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mheval.errors import StepError

MARKER = ".mheval-synthetic"


class ForeignDirectoryError(StepError, RuntimeError):
    """The output directory holds files the synthetic generator did not write."""

    heading = "INPUT ERROR"


def _files(root: Path) -> list[str]:
    """Every file under ``root`` (relative POSIX paths, sorted), the marker excepted."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if (p.is_file() or p.is_symlink()) and p != root / MARKER)


def _read_marker(root: Path) -> dict | None:
    path = root / MARKER
    if not path.exists():
        return None
    try:
        marker = json.loads(path.read_text())
        if not isinstance(marker, dict) or not isinstance(marker.get("files"), list):
            raise ValueError("no file list")
        return marker
    except (ValueError, OSError) as exc:
        raise ForeignDirectoryError(f"{root}: the marker file {MARKER} cannot be read ({exc}); the synthetic "
                                    "generator will not write here. Remove the directory by hand if it is "
                                    "a synthetic trial, or choose another data.dir.") from None


def _write_marker(root: Path, params: dict, files: list[str], complete: bool) -> None:
    body = {"written_by": "mheval.synth.generate_trial", "complete": complete, "params": params, "files": files}
    (root / MARKER).write_text(json.dumps(body, indent=2, sort_keys=True, default=str) + "\n")


@contextmanager
def synthetic_output_dir(out_dir: str | Path, params: dict) -> Iterator[Path]:
    """Claim ``out_dir`` for the synthetic generator, clear its previous output, and record what is written.

    On entry: a missing or empty directory is created and marked; a marked directory has the files
    its marker lists deleted (empty folders they leave are removed too); any other directory, or a
    marked one that also holds a file the marker does not list, raises
    :class:`ForeignDirectoryError` naming the directory and up to five such files, and nothing is
    touched. On exit (also after an error) the marker lists every file then in the directory, so
    a later run can replace them and only them.
    """
    root = Path(out_dir)
    if root.exists() and not root.is_dir():
        raise ForeignDirectoryError(f"{root} is a file, not a directory; the synthetic generator will not write there.")
    present = _files(root) if root.exists() else []
    marker = _read_marker(root) if root.exists() else None
    listed = set(marker["files"]) if marker else set()
    foreign = [f for f in present if f not in listed]
    if foreign:
        why = "is not empty and was not written by the synthetic generator" if marker is None else \
            f"holds {len(foreign)} file(s) its {MARKER} marker does not list"
        raise ForeignDirectoryError(
            f"{root} {why} (e.g. {', '.join(foreign[:5])}); the generator writes only into an empty directory "
            f"or one it marked as its own, and never deletes other files. Set data.source: files to read these "
            f"files, or choose another data.dir for the synthetic trial.")
    root.mkdir(parents=True, exist_ok=True)
    for rel in present:  # all listed: written by an earlier run
        path = root / rel
        path.unlink()
        parent = path.parent
        while parent != root and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    _write_marker(root, params, [], complete=False)
    complete = False
    try:
        yield root
        complete = True
    finally:
        _write_marker(root, params, _files(root), complete=complete)
