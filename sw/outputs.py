"""Writing output files safely: checked before the work, replaced whole or not at all.

A command that runs for minutes checks its output path first (:func:`check_output_file`,
:func:`check_output_dir`), so an unwritable path fails at once, not after the work. Files are
written through :func:`atomic_write`: into a temporary file beside the target, flushed, then
renamed over it, so a crash or a full disk never leaves a half-written model where a good one
was.
"""

import contextlib
import os
import tempfile
from pathlib import Path

from tinyeie.contract.errors import TinyeieError

__all__ = ["check_output_file", "check_output_dir", "atomic_write", "write_bytes", "write_text"]

_UMASK = os.umask(0)     # read once (os.umask can only be read by setting it)
os.umask(_UMASK)


def _can_write_in(folder, what, path):
    """Create ``folder`` if needed and prove a file can be created in it."""
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise TinyeieError(f"cannot write the {what} {path}: {existing} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".tinyeie-check-"):
            pass
    except OSError as e:
        raise TinyeieError(f"cannot write the {what} {path}: {e.strerror or e} "
                           f"({e.filename or folder})") from None


def check_output_file(path, what="output"):
    """Refuse, before any work, an output file that could not be written: its folder cannot be
    created or written, or the path is a folder. Creates the folder if missing."""
    path = Path(path)
    if path.is_dir():
        raise TinyeieError(f"the {what} {path} is a folder; give a file name")
    _can_write_in(path.parent, what, path)


def check_output_dir(path, what="output folder"):
    """Refuse, before any work, an output folder that cannot be created or written."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise TinyeieError(f"the {what} {path} is a file; give a folder")
    _can_write_in(path, what, path)


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """A file object whose contents replace ``path`` only when the block ends without error.

    The data goes to a temporary file in the same folder (created if missing), is flushed to
    disk, and is renamed over ``path``; on an error the temporary file is removed and ``path``
    is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temp, 0o666 & ~_UMASK)   # as a plain open() would have made it
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def write_bytes(path, data):
    """``Path(path).write_bytes(data)``, atomically."""
    with atomic_write(path) as f:
        f.write(data)


def write_text(path, text):
    """``Path(path).write_text(text)``, atomically (UTF-8)."""
    with atomic_write(path, "w") as f:
        f.write(text)
