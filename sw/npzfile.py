"""Reading ``.npz`` model files without trusting a single size they declare.

``numpy.load`` believes a file: a zip member that inflates to gigabytes, or an ``.npy`` header
declaring 2**40 elements, is allocated before anything can object. :class:`NpzFile` checks every
declared size first, against the file's own length and against :data:`MAX_NPZ_BYTES`:

* the file on disk, and the number of members its zip directory declares, before the directory
  is parsed;
* every member: stored or deflated, not encrypted, a name ending in ``.npy``, its declared
  uncompressed size within what is left of the budget (the zip reader never inflates past the
  declared size, so a lying size only ends in a CRC error);
* every ``.npy`` header: version, header length, a plain numeric or string dtype, and a shape
  whose element count times item size is exactly the bytes the member holds.

Only then is an array's data read, into one buffer of exactly that size. Every problem is a
:class:`~tinyeie.contract.errors.TinyeieError` naming the file and what was wrong.
"""

import struct
import zipfile
import zlib
from math import prod
from pathlib import Path
from typing import NamedTuple

import numpy as np

from tinyeie.contract.errors import TinyeieError

__all__ = ["MAX_NPZ_BYTES", "MAX_MEMBERS", "ArrayHeader", "NpzFile", "read_npz"]

#: The most a model file may hold, on disk and inflated: 256 MiB, room for a float network of
#: 64 million weights (the readers refuse networks larger than that before reading them).
MAX_NPZ_BYTES = 256 << 20
#: The most arrays a model file may hold (6 per layer of the largest engine's 2048 layers, and
#: a few more), and the most bytes their zip directory may take: both checked before the zip
#: directory is parsed.
MAX_MEMBERS = 16384
MAX_DIRECTORY_BYTES = 8 << 20
_MAX_NPY_HEADER = 10_000            # numpy's own limit for an .npy header
_DTYPE_KINDS = "biufU"              # bool, integers, floats, unicode strings: nothing else
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, TypeError,
               NotImplementedError, RuntimeError, struct.error, SyntaxError)


class ArrayHeader(NamedTuple):
    """What a member's ``.npy`` header declares, checked against the member's length."""

    dtype: np.dtype
    shape: tuple
    fortran: bool
    offset: int          # bytes of the member before the data (magic and header)

    @property
    def nbytes(self):
        return prod(self.shape) * self.dtype.itemsize

    def describe(self):
        return f"{self.dtype} {self.shape}"


class NpzFile:
    """An ``.npz`` file opened for bounded reading; use it as a context manager.

    Parameters
    ----------
    path : path-like
    what : str
        What the file should be, for messages (``"compressed model"``).
    max_bytes : int
        Budget for the file on disk and for all its arrays inflated.

    Members
    -------
    names : list of str
        The arrays, without ``.npy``, in file order.
    """

    def __init__(self, path, what, max_bytes=MAX_NPZ_BYTES):
        self.path = Path(path)
        self.what = what
        if not self.path.exists():
            raise TinyeieError(f"{what} {self.path} does not exist")
        if not self.path.is_file():
            raise TinyeieError(f"{what} {self.path} is not a file")
        size = self.path.stat().st_size
        if size > max_bytes:
            self._bad(f"it is {size:,} bytes; a {what} file is at most {max_bytes:,}")
        try:
            self._file = open(self.path, "rb")
        except OSError as e:
            raise TinyeieError(f"cannot read {what} {self.path}: {e.strerror}") from None
        try:
            self._open_zip(size, max_bytes)
        except BaseException:
            self._file.close()
            raise

    def _bad(self, why):
        raise TinyeieError(f"{self.what} {self.path} is not a readable .npz file: {why}")

    def _open_zip(self, size, max_bytes):
        directory = _declared_directory(self._file, size)
        if directory is None:
            self._bad("it is not a zip archive (no end-of-directory record)")
        members, directory_bytes = directory
        if members > MAX_MEMBERS:
            self._bad(f"its directory declares {members:,} members, at most {MAX_MEMBERS:,}")
        if directory_bytes > MAX_DIRECTORY_BYTES:
            self._bad(f"its directory declares {directory_bytes:,} bytes, at most "
                      f"{MAX_DIRECTORY_BYTES:,}")
        try:
            self._zip = zipfile.ZipFile(self._file)
            infos = self._zip.infolist()
        except _ZIP_ERRORS as e:
            self._bad(f"its zip directory is damaged ({_reason(e)})")
        self._infos = {}
        budget = max_bytes
        for info in infos:
            name = info.filename
            if not name.endswith(".npy") or len(name) > 256:
                self._bad(f"member {name[:60]!r} is not an .npy array")
            key = name[:-4]
            if key in self._infos:
                self._bad(f"array {key!r} appears twice")
            if info.flag_bits & 0x1:
                self._bad(f"array {key!r} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                self._bad(f"array {key!r} uses zip compression method {info.compress_type}; "
                          f"a model file is stored or deflated")
            if info.file_size > budget:
                self._bad(f"array {key!r} declares {info.file_size:,} bytes, more than the "
                          f"{max_bytes:,} a model file may hold")
            budget -= info.file_size
            self._infos[key] = info
        self.names = list(self._infos)
        self._headers = {}

    def close(self):
        self._zip.close()
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __contains__(self, name):
        return name in self._infos

    def header(self, name):
        """The checked :class:`ArrayHeader` of array ``name`` (a KeyError if it is absent)."""
        if name not in self._headers:
            info = self._infos[name]
            try:
                with self._zip.open(info) as member:
                    self._headers[name] = self._read_header(name, info, member)
            except TinyeieError:
                raise
            except _ZIP_ERRORS as e:
                self._bad(f"array {name!r} has a damaged header ({_reason(e)})")
        return self._headers[name]

    def _read_header(self, name, info, member):
        fmt = np.lib.format
        version = fmt.read_magic(member)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(member, _MAX_NPY_HEADER)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = fmt.read_array_header_2_0(member, _MAX_NPY_HEADER)
        else:
            raise ValueError(f"unknown .npy version {version}")
        if dtype.kind not in _DTYPE_KINDS or dtype.fields is not None or dtype.subdtype:
            self._bad(f"array {name!r} has dtype {dtype}; model files hold numbers and strings")
        if any(n < 0 for n in shape):
            self._bad(f"array {name!r} declares the shape {tuple(shape)}")
        if dtype.itemsize == 0:
            self._bad(f"array {name!r} has dtype {dtype} of zero size")
        header = ArrayHeader(dtype, tuple(shape), bool(fortran), member.tell())
        held = info.file_size - header.offset
        if header.nbytes != held:
            self._bad(f"array {name!r} declares {header.describe()} ({header.nbytes:,} bytes) "
                      f"but holds {held:,} bytes")
        return header

    def read(self, name):
        """Array ``name``, after its header is checked; its data read into one buffer."""
        header = self.header(name)
        buffer = bytearray(header.nbytes)
        try:
            with self._zip.open(self._infos[name]) as member:
                member.read(header.offset)
                got = member.readinto(buffer)
                extra = member.read(1)      # reaches the end, so the zip's CRC is checked
        except _ZIP_ERRORS as e:
            self._bad(f"array {name!r} is damaged ({_reason(e)})")
        if got != len(buffer) or extra:
            self._bad(f"array {name!r} holds other than its declared {header.nbytes:,} bytes")
        array = np.frombuffer(buffer, dtype=header.dtype)
        return array.reshape(header.shape, order="F" if header.fortran else "C")

    def text(self, name, max_chars):
        """The string stored as 0-d array ``name`` (numpy's form of a str), at most
        ``max_chars`` long, read only after its header says so."""
        h = self.header(name)
        if h.dtype.kind != "U" or h.shape != ():
            self._bad(f"{name!r} must be a string, not an array of {h.describe()}")
        if h.dtype.itemsize // 4 > max_chars:
            self._bad(f"{name!r} is {h.dtype.itemsize // 4:,} characters long, at most "
                      f"{max_chars:,}")
        return str(self.read(name)[()])


def read_npz(path, what, max_bytes=MAX_NPZ_BYTES):
    """Every array of the ``.npz`` file ``path`` (a ``what``, for messages) as a dict, each
    checked by :class:`NpzFile` before it is read."""
    with NpzFile(path, what, max_bytes) as npz:
        return {name: npz.read(name) for name in npz.names}


def _declared_directory(file, size):
    """``(members, bytes)`` of the zip directory as its end-of-directory record declares them,
    read before the zip module parses (and holds in memory) the directory; None if there is no
    record."""
    tail = min(size, 22 + 0xFFFF)
    file.seek(size - tail)
    data = file.read(tail)
    at = data.rfind(b"PK\x05\x06")
    if at < 0 or len(data) - at < 22:
        return None
    members, directory_bytes = struct.unpack("<HI", data[at + 10:at + 16])
    locator = data.rfind(b"PK\x06\x07", 0, at)      # a zip64 record may declare more
    if locator >= 0 and at - locator == 20:
        (offset,) = struct.unpack("<Q", data[locator + 8:locator + 16])
        if offset + 56 <= size:
            file.seek(offset)
            record = file.read(56)
            if record[:4] == b"PK\x06\x06":
                count, length = struct.unpack("<QQ", record[32:48])
                members, directory_bytes = max(members, count), max(directory_bytes, length)
    return members, directory_bytes


def _reason(error):
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:200]
