"""`hb_store_fs`: a store in a directory tree (resolution-paths-cache-node.md §9.2).

A value is a regular file, a group is a directory, and a link is a symlink
whose text is the store-relative target path. Links are resolved by the store,
segment by segment, and never by the operating system: reads open files with
`O_NOFOLLOW`, and a relative target such as `data/x` would mean something else
to the OS anyway (it is relative to the link's own directory).

Path segments become file names with three escapes, so that no segment can
climb out of the root or collide with the store's own temporary files:
`%` -> `%25`, NUL -> `%00`, and a leading `.` -> `%2e` (so `..` is `%2e.`).
Names starting with `.` are therefore never entries, and are skipped by `list`.
A segment longer than the file system allows (usually 255 bytes) cannot be
written (StoreError).

Durability: a value is written to a temporary file in the same directory,
fsynced, and renamed over the destination, so a reader sees the old value or
the new one, never a torn one. The directory is fsynced after the rename (once
per directory at the end of a `transaction()`), so a write that has returned
survives a crash. Pass `durable=False` to skip the fsyncs (throwaway stores).

Privacy: the store creates its directories 0700 and its files 0600 (less the umask), as the
node's private store (`priv_store`) is one of these.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import stat
import threading
import uuid
from collections.abc import Callable, Iterator

from aonode.store._base import Kind, Names, Store, StoreError, normalize_path, parent_and_name, split_path

__all__ = ["FSStore"]

# errno values that mean "nothing is stored at this path" when reading.
_ABSENT = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG, errno.ELOOP, errno.EISDIR})
_UNESCAPE = re.compile(r"%(25|00|2[eE])")
_DIR_MODE, _FILE_MODE = 0o700, 0o600

_ESCAPED = {"25": "%", "00": "\0", "2e": ".", "2E": "."}


def _escape(segment: str) -> str:
    name = segment.replace("%", "%25").replace("\0", "%00")
    return "%2e" + name[1:] if name.startswith(".") else name


def _unescape(name: str) -> str:
    return _UNESCAPE.sub(lambda m: _ESCAPED[m.group(1)], name)


class _Local(threading.local):
    """Directories to fsync when the thread's current transaction ends (None outside one)."""

    dirty: set[str] | None = None


class FSStore(Store):
    """A store in the directory `root` (created if missing).

    Args:
        root: the store's directory.
        scope: what `scope` reports (`local` unless configured, as in the reference).
        durable: fsync files and directories so that finished writes survive a crash.
    """

    def __init__(self, root: str | os.PathLike[str], *, scope: str = "local", durable: bool = True) -> None:
        self.root = os.path.realpath(root)
        self.scope = scope
        self.durable = durable
        self._local = _Local()
        try:
            os.makedirs(self.root, mode=_DIR_MODE, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"store: cannot create directory {self.root!r}: {exc}") from exc

    def __repr__(self) -> str:
        return f"FSStore({self.root!r})"

    def _fs(self, path: str) -> str:
        return os.path.join(self.root, *(_escape(segment) for segment in split_path(path)))

    # -- primitives ---------------------------------------------------------------------------

    def _link_target(self, path: str) -> str | None:
        try:
            text = os.readlink(self._fs(path))
        except OSError as exc:
            if exc.errno in _ABSENT or exc.errno == errno.EINVAL:  # EINVAL: not a link
                return None
            raise StoreError(f"store: cannot read link {path!r}: {exc}") from exc
        return "/".join(_unescape(segment) for segment in text.split("/") if segment)

    def _get(self, path: str) -> bytes | None:
        try:
            fd = os.open(self._fs(path), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno in _ABSENT:
                return None
            raise StoreError(f"store: cannot read {path!r}: {exc}") from exc
        try:
            with os.fdopen(fd, "rb") as file:
                return file.read()
        except IsADirectoryError:
            return None
        except OSError as exc:
            raise StoreError(f"store: cannot read {path!r}: {exc}") from exc

    def _stat(self, path: str) -> os.stat_result | None:
        try:
            return os.lstat(self._fs(path))
        except OSError as exc:
            if exc.errno in _ABSENT:
                return None
            raise StoreError(f"store: cannot stat {path!r}: {exc}") from exc

    def _kind(self, path: str) -> Kind | None:
        found = self._stat(path)
        if found is None:
            return None
        return "composite" if stat.S_ISDIR(found.st_mode) else "simple" if stat.S_ISREG(found.st_mode) else None

    def _children(self, path: str) -> Names | None:
        found = self._stat(path)
        if found is None or not stat.S_ISDIR(found.st_mode):
            return None
        try:
            names = os.listdir(self._fs(path))
        except OSError as exc:
            raise StoreError(f"store: cannot list {path!r}: {exc}") from exc
        return sorted(_unescape(name) for name in names if not name.startswith("."))

    # -- durability ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self, ordered: Callable[[], None] | None = None) -> Iterator[None]:
        """Defer directory fsyncs to the end of the block (each file is still fsynced before it
        is renamed into place). A crash inside the block may keep some of its writes."""
        local = self._local
        if local.dirty is not None:
            yield
            if ordered is not None:
                ordered()
            return
        local.dirty = set()
        try:
            yield
        finally:
            dirty, local.dirty = local.dirty, None
            for directory in dirty:
                self._sync_dir(directory)
        if ordered is not None:
            ordered()

    def _changed(self, directory: str) -> None:
        if not self.durable:
            return
        if self._local.dirty is not None:
            self._local.dirty.add(directory)
        else:
            self._sync_dir(directory)

    def _sync_dir(self, directory: str) -> None:
        try:
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except FileNotFoundError:
            pass  # removed since (reset): nothing left to make durable
        except OSError as exc:
            raise StoreError(f"store: cannot sync {directory!r}: {exc}") from exc

    # -- writers ------------------------------------------------------------------------------

    def _directory(self, resolved: str) -> str:
        """The directory for the resolved group path, creating missing groups on the way."""
        current = self.root
        for segment in split_path(resolved):
            below = os.path.join(current, _escape(segment))
            try:
                os.mkdir(below, _DIR_MODE)
            except FileExistsError:
                if not stat.S_ISDIR(os.lstat(below).st_mode):
                    raise StoreError(f"store: {segment!r} in {resolved!r} is not a group") from None
            else:
                self._changed(current)
            current = below
        return current

    def _destination(self, path: str) -> tuple[str, str]:
        """(directory, file) to write `path` at: parent resolved through links, parent groups
        created, and no group at the destination."""
        parent, name = parent_and_name(path)
        directory = self._directory(self.resolve(parent) if parent else "")
        destination = os.path.join(directory, _escape(name))
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISDIR(os.lstat(destination).st_mode):
                raise StoreError(f"store: {path!r} is a group and cannot be replaced")
        return directory, destination

    def _temporary(self, directory: str) -> str:
        return os.path.join(directory, f".tmp-{uuid.uuid4().hex}")

    def write(self, path: str, value: bytes) -> None:
        self._check_open()
        if not isinstance(value, (bytes, bytearray)):
            raise TypeError(f"value must be bytes, got {type(value).__name__}")
        try:
            directory, destination = self._destination(path)
            temporary = self._temporary(directory)
            try:
                fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, _FILE_MODE)
                with os.fdopen(fd, "wb") as file:
                    file.write(value)
                    file.flush()
                    if self.durable:
                        os.fsync(file.fileno())
                os.replace(temporary, destination)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
        except OSError as exc:
            raise StoreError(f"store: cannot write {path!r}: {exc}") from exc
        self._changed(directory)

    def make_group(self, path: str) -> None:
        self._check_open()
        resolved = self.resolve(path)
        kind = self._kind(resolved)
        if kind == "composite":
            return
        if kind == "simple":
            raise StoreError(f"store: {resolved!r} holds a value and cannot become a group")
        try:
            directory, destination = self._destination(resolved)
            if os.path.lexists(destination):
                os.unlink(destination)  # neither value nor group: a stray link
            with contextlib.suppress(FileExistsError):
                os.mkdir(destination, _DIR_MODE)
        except OSError as exc:
            raise StoreError(f"store: cannot make group {path!r}: {exc}") from exc
        self._changed(directory)

    def make_link(self, existing: str, new: str) -> None:
        self._check_open()
        existing, new = normalize_path(existing), normalize_path(new)
        if existing == new:
            return
        if not existing:
            raise StoreError("store: a link needs a target")
        text = "/".join(_escape(segment) for segment in split_path(existing))
        try:
            directory, destination = self._destination(new)
            temporary = self._temporary(directory)
            os.symlink(text, temporary)
            try:
                os.replace(temporary, destination)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
        except OSError as exc:
            raise StoreError(f"store: cannot link {new!r} to {existing!r}: {exc}") from exc
        self._changed(directory)

    def reset(self) -> None:
        self._check_open()
        try:
            for name in os.listdir(self.root):
                entry = os.path.join(self.root, name)
                if os.path.isdir(entry) and not os.path.islink(entry):
                    shutil.rmtree(entry)
                else:
                    os.unlink(entry)
        except OSError as exc:
            raise StoreError(f"store: cannot reset {self.root!r}: {exc}") from exc
        self._changed(self.root)

    def close(self) -> None:
        self._closed = True
