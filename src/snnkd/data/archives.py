"""Raw dataset archives: where they live, their published checksums, and fetching them.

An archive is found in ``<data_dir>/raw/<dataset>/<filename>``. It is verified
against its published MD5 or SHA-256 before anything reads it. Downloading
happens only from :func:`ensure` with ``download=True`` (the staging stage),
only when the file is absent, with a progress bar; everywhere else an absent
archive is a one-line :class:`~snnkd.errors.ConfigError` naming the file, its
URL and the folder to put it in.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from snnkd.errors import ConfigError

CHUNK = 1 << 20


@dataclass(frozen=True)
class Archive:
    """One file of a dataset's release, with its published checksum (if any)."""

    filename: str
    url: str
    md5: str | None = None
    sha256: str | None = None
    downloadable: bool = True  # False where the host needs a browser or a licence click

    def path(self, raw_dir: Path) -> Path:
        return raw_dir / self.filename

    def missing_message(self, raw_dir: Path) -> str:
        """The one line telling a user how to place this archive by hand."""
        return f"archive {self.filename} is absent: get it from {self.url} and put it in {raw_dir}/"


def raw_dir(data_dir: Path, dataset: str) -> Path:
    """The folder holding a dataset's raw archives (tracked by ``data.dvc``)."""
    return Path(data_dir) / "raw" / dataset


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def verify(archive: Archive, raw: Path) -> str:
    """Check ``archive`` in folder ``raw`` against its published checksum.

    Returns the SHA-256 of the file (recorded with the prepared tensors);
    raises :class:`ConfigError` on a mismatch, naming both digests.
    """
    path = archive.path(raw)
    sha256 = file_digest(path, "sha256")
    if archive.sha256 is not None and sha256 != archive.sha256:
        raise ConfigError(_mismatch(path, "SHA-256", archive.sha256, sha256))
    if archive.md5 is not None:
        md5 = file_digest(path, "md5")
        if md5 != archive.md5:
            raise ConfigError(_mismatch(path, "MD5", archive.md5, md5))
    return sha256


def _mismatch(path: Path, kind: str, expected: str, got: str) -> str:
    return (
        f"archive {path} fails its {kind} checksum (expected {expected}, got {got}): "
        "it is corrupted or incomplete; delete it and stage again"
    )


def download(url: str, dest: Path, show: bool = True) -> None:
    """Download ``url`` to ``dest`` through a ``.part`` file, with a tqdm progress bar."""
    from tqdm import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(part, "wb") as out:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(
                total=total, unit="B", unit_scale=True, desc=dest.name, disable=not show, file=sys.stderr
            ) as bar:
                while chunk := resp.read(CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
        shutil.move(part, dest)
    except OSError as err:
        part.unlink(missing_ok=True)
        raise ConfigError(
            f"download of {url} failed ({err}); put {dest.name} in {dest.parent}/ by hand"
        ) from None


def ensure(archive: Archive, raw: Path, *, download_missing: bool, show: bool = True) -> str:
    """Make sure ``archive`` is present in ``raw`` and verified; returns its SHA-256.

    An absent archive is downloaded only when ``download_missing`` is true and
    the host allows it; otherwise one line says where to get it and where to put it.
    """
    path = archive.path(raw)
    if not path.is_file():
        if not (download_missing and archive.downloadable):
            raise ConfigError(archive.missing_message(raw))
        download(archive.url, path, show)
    return verify(archive, raw)
