"""Atomic, deterministic writing of everything a rule produces.

Every output is written under a temporary name beside its target and renamed into
place, so an interrupted rule never leaves a half-written file that looks finished.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd


@contextlib.contextmanager
def atomic_path(target: str | Path, directory: bool = False):
    """Yield a temporary path beside `target`; on success rename it onto `target`."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if directory:
        temporary = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    else:
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        os.close(handle)
        temporary = Path(name)
    try:
        yield temporary
        if directory and target.exists():
            shutil.rmtree(target)
        os.replace(temporary, target)
    except BaseException:
        if temporary.is_dir():
            shutil.rmtree(temporary, ignore_errors=True)
        else:
            temporary.unlink(missing_ok=True)
        raise


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json(data, target: str | Path) -> None:
    """Pretty, key-sorted JSON (stable bytes for the same data)."""
    with atomic_path(target) as path:
        path.write_text(json.dumps(data, indent=2, sort_keys=True, default=_plain) + "\n")


def read_json(source: str | Path):
    return json.loads(Path(source).read_text())


def write_text(text: str, target: str | Path) -> None:
    with atomic_path(target) as path:
        path.write_text(text)


def write_documents(documents: list[str], target: str | Path) -> None:
    """A corpus as text: documents separated by a blank line (they never contain one)."""
    write_text("\n\n".join(documents) + "\n", target)


def read_documents(source: str | Path) -> list[str]:
    """The documents of a corpus file written by `write_documents` (or by hand)."""
    return [doc for doc in Path(source).read_text().split("\n\n") if doc.strip()]


def write_table(frame: pd.DataFrame, target: str | Path) -> None:
    """CSV (with floats at full, reproducible precision) or parquet, by the file's suffix."""
    with atomic_path(target) as path:
        if str(target).endswith(".parquet"):
            frame.to_parquet(path, index=False)
        else:
            frame.to_csv(path, index=False, float_format="%.6g", lineterminator="\n")


def save_figure(figure, target_png: str | Path) -> None:
    """Save a matplotlib figure as PNG and PDF (same stem), without timestamps."""
    import matplotlib.pyplot as plt

    target_png = Path(target_png)
    for suffix, metadata in ((".png", {"Software": None}),
                             (".pdf", {"CreationDate": None, "Producer": None})):
        with atomic_path(target_png.with_suffix(suffix)) as path:
            figure.savefig(path, format=suffix[1:], metadata=metadata, dpi=150,
                           bbox_inches="tight")
    plt.close(figure)


def _plain(value):
    """JSON fallback for numpy scalars and paths."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)
