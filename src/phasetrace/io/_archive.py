"""Zip containers and XML documents read defensively (``.brml``, ``.rasx``, ``.xrdml``).

* Zip: at most :data:`~phasetrace.io._limits.MAX_ZIP_MEMBERS` entries; encrypted
  members are refused; the members read from one archive may decompress to at
  most :data:`~phasetrace.io._limits.MAX_XML_BYTES` in all — checked against the
  sizes the archive declares *and* counted while decompressing, so a header
  that lies cannot make phasetrace inflate more.
* XML: parsed with :mod:`defusedxml`, which refuses any DTD, entity declaration
  or external reference after decoding, whatever the document's encoding (the
  "billion laughs" expansion is impossible); documents above
  :data:`~phasetrace.io._limits.MAX_XML_BYTES` are refused unread.
"""

from __future__ import annotations

import lzma
import zipfile
import zlib
from pathlib import Path
from xml.etree import ElementTree as ET

import defusedxml
import defusedxml.ElementTree as DET

from ..errors import ReaderError
from ._limits import MAX_XML_BYTES, MAX_ZIP_MEMBERS, human_bytes

__all__ = ["SafeZip", "open_zip", "read_zip_member", "parse_xml"]

_READ_BLOCK = 1 << 20
_DECOMPRESS_ERRORS = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError, ValueError,
                      NotImplementedError, RuntimeError)


class SafeZip:
    """A read-only zip archive with a decompression budget shared by all its members."""

    def __init__(self, path: Path, *, kind: str, budget: int = MAX_XML_BYTES) -> None:
        self.path = path
        self.kind = kind
        self.remaining = int(budget)
        self.budget = int(budget)
        try:
            self._zf = zipfile.ZipFile(path, "r")
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as err:
            raise ReaderError(
                f"{path}: not a valid {kind} file (expected a zip archive; it is truncated or of "
                f"another kind: {err})") from err
        n = len(self._zf.infolist())
        if n > MAX_ZIP_MEMBERS:
            self._zf.close()
            raise ReaderError(f"{path}: archive has {n} members; refusing more than {MAX_ZIP_MEMBERS} "
                              f"(not a {kind} file)")

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(self, *exc: object) -> None:
        self._zf.close()

    def close(self) -> None:
        self._zf.close()

    def namelist(self) -> list[str]:
        return self._zf.namelist()

    def check_declared(self, names: list[str]) -> None:
        """Refuse, before reading anything, members whose declared sizes exceed the budget together."""
        total = 0
        for name in names:
            try:
                total += self._zf.getinfo(name).file_size
            except KeyError:
                continue
        if total > self.remaining:
            raise ReaderError(
                f"{self.path}: the {len(names)} archive members to read declare {total} bytes uncompressed; "
                f"refusing more than {human_bytes(self.budget)} decompressed per archive (a zip bomb or not "
                f"a {self.kind} file)")

    def read(self, name: str) -> bytes:
        """Decompress one member within the remaining budget."""
        where = f"{self.path}: archive member {name}"
        try:
            info = self._zf.getinfo(name)
        except KeyError as err:
            raise ReaderError(f"{where} is missing") from err
        if info.flag_bits & 0x1:
            raise ReaderError(f"{where} is encrypted (password-protected); phasetrace reads only "
                              "unencrypted archives")
        if info.file_size > self.remaining:
            raise ReaderError(
                f"{where} declares {info.file_size} bytes uncompressed; refusing more than "
                f"{human_bytes(self.budget)} decompressed per archive (a zip bomb or not a {self.kind} file)")
        chunks, total = [], 0
        try:
            with self._zf.open(info) as fh:
                while True:
                    block = fh.read(min(_READ_BLOCK, self.remaining - total + 1))
                    if not block:
                        break
                    total += len(block)
                    if total > self.remaining:
                        raise ReaderError(
                            f"{where} inflates beyond its declared {info.file_size} bytes; refusing more "
                            f"than {human_bytes(self.budget)} decompressed per archive (a zip bomb)")
                    chunks.append(block)
        except ReaderError:
            raise
        except _DECOMPRESS_ERRORS as err:
            raise ReaderError(f"{where} cannot be read (truncated or corrupt: {err})") from err
        self.remaining -= total
        return b"".join(chunks)


def open_zip(path: Path, *, kind: str) -> SafeZip:
    """Open ``path`` as a zip archive or raise :class:`ReaderError` saying it is not a ``kind`` file."""
    return SafeZip(path, kind=kind)


def read_zip_member(zf: SafeZip, name: str, *, path: Path) -> bytes:
    """Read one member of an archive opened with :func:`open_zip` (budgeted; errors are ReaderError)."""
    return zf.read(name)


def parse_xml(data: bytes, *, path: Path, member: str = "") -> ET.Element:
    """Parse XML bytes with DTDs, entities and external references forbidden.

    Raises
    ------
    ReaderError
        Too large, declaring a DTD/entity (in any encoding), or not well-formed.
    """
    where = f"{path}{':' + member if member else ''}"
    if len(data) > MAX_XML_BYTES:
        raise ReaderError(f"{where}: XML document of {human_bytes(len(data))}; refusing more than "
                          f"{human_bytes(MAX_XML_BYTES)}")
    try:
        return DET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (defusedxml.DTDForbidden, defusedxml.EntitiesForbidden, defusedxml.ExternalReferenceForbidden,
            defusedxml.NotSupportedError) as err:
        raise ReaderError(f"{where}: XML with a DOCTYPE/ENTITY declaration is refused (entity expansion "
                          "could exhaust memory)") from err
    except (ET.ParseError, ValueError, LookupError) as err:
        raise ReaderError(f"{where}: not well-formed XML (truncated or corrupt: {err})") from err
