"""Object storage (s3://) as a local mirror: every command reads and writes local files.

A location given as `s3://bucket/prefix` is mirrored under the cache folder
($NIRCOLOR_CACHE, else $XDG_CACHE_HOME/nircolor, else ~/.cache/nircolor): `pull` brings the mirror up
to date before the command runs (only objects whose size or time changed are fetched again, so a
dataset read twice is downloaded once), the command works on the mirror, and `push` uploads what
the command wrote. The endpoint and credentials come from the usual AWS environment
(AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ~/.aws, …), so one command works against AWS, MinIO or a
test server.

Only complete files are uploaded: commands write under temporary dot-names and rename
(dataset_tools/atomic.py), and the push skips those; an object appears when its upload completes,
never in part. Files that describe others (manifest.json, reports) are uploaded after the files
they name, and remote objects are deleted only after everything new is up.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from nircolor.dataset_tools import atomic

# A location such as s3://bucket/ds; Path() would fold it into a local folder `s3:/bucket/ds`.
URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://")
SCHEMES = ("s3",)
# Never uploaded: the writer lock, temporary dot-names of unfinished writes, the mirror's own record.
LOCK_NAME = ".nircolor.lock"
SYNC_SUFFIX = ".nircolor-sync.json"
RAY_MARKER = ".validate_storage_marker"  # Ray Train's probe that its storage_path is writable


class StorageError(Exception):
    """Object storage could not be reached or refused the operation (one line, naming the URI)."""


def cache_root() -> Path:
    if os.environ.get("NIRCOLOR_CACHE"):
        return Path(os.environ["NIRCOLOR_CACHE"]).absolute()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return (Path(base) / "nircolor").absolute()


def split_uri(uri: str) -> tuple[str, str]:
    """'s3://bucket/a/b/' → ('bucket', 'a/b'); an unsupported scheme or no bucket is a StorageError."""
    match = URI.match(uri)
    if not match:
        raise StorageError(f"{uri}: not a URI")
    scheme = match.group(1).lower()
    if scheme not in SCHEMES:
        raise StorageError(f"{uri}: unsupported scheme {scheme}:// (locations are local paths or s3:// URIs)")
    bucket, _, key = uri[match.end():].partition("/")
    key = key[:-1] if key.endswith("/") else key  # s3://b/ds/ is s3://b/ds; an empty part is refused
    parts = key.split("/") if key else []
    if not bucket or any(part in ("", ".", "..") for part in parts):
        raise StorageError(f"{uri}: not an s3://BUCKET/KEY location")
    return bucket, key


def _filesystem():
    """pyarrow's S3 filesystem: endpoint and region from the AWS variables, credentials found by the
    AWS SDK (environment, ~/.aws). Few retries: an unreachable endpoint fails in seconds."""
    from pyarrow import fs  # here: pyarrow's S3 client costs a second to load, and most commands never need it

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    # The SDK pyarrow bundles does not read AWS_ENDPOINT_URL in every build: pass it on ourselves.
    endpoint = _endpoint()
    return fs.S3FileSystem(region=region, endpoint_override=endpoint, connect_timeout=5, request_timeout=60,
                           retry_strategy=fs.AwsStandardS3RetryStrategy(max_attempts=2))


def _endpoint() -> str | None:
    """AWS's own variables for another S3 server (MinIO, a test server): the S3-specific one first."""
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


def _reason(error: Exception) -> str:
    """The first useful sentence of an AWS SDK error, on one line."""
    text = " ".join(str(error).split())
    if "NETWORK_CONNECTION" in text or "Could not connect" in text or "Couldn't resolve" in text:
        endpoint = _endpoint() or "AWS S3"
        return f"cannot reach object storage at {endpoint} (set AWS_ENDPOINT_URL for MinIO or another server)"
    if "ACCESS_DENIED" in text or "AccessDenied" in text or "403" in text:
        return "access denied (check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the bucket's policy)"
    if "NoSuchBucket" in text or "Bucket" in text and "not found" in text:
        return "no such bucket"
    return text.split(". ")[0][:300]


@dataclass
class Mirror:
    """One URI and its local copy. `synced` is what local and remote agreed on at the last pull or
    push (relative name → [size, mtime_ns]); it tells a file the command deleted from one never
    fetched, and it persists beside the mirror so a push that failed is retried by the next command."""

    uri: str
    local: Path
    synced: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def of(cls, uri: str) -> "Mirror":
        bucket, key = split_uri(uri)
        local = cache_root() / "s3" / bucket / key if key else cache_root() / "s3" / bucket / "_bucket"
        mirror = cls(uri=f"s3://{bucket}/{key}".rstrip("/"), local=local)
        if mirror._record.exists():
            try:
                mirror.synced = json.loads(mirror._record.read_text())
            except (OSError, ValueError):
                mirror.synced = {}
        return mirror

    @property
    def _record(self) -> Path:
        return self.local.with_name(self.local.name + SYNC_SUFFIX)

    @property
    def _remote(self) -> str:
        bucket, key = split_uri(self.uri)
        return f"{bucket}/{key}" if key else bucket

    # -- remote → local --------------------------------------------------------------------------

    def pull(self, on_file: Callable[[str, int], None] | None = None) -> int:
        """Fetch what changed remotely; drop local files the remote deleted since the last sync
        (files never synced are the command's own unpushed work and stay). Returns files fetched."""
        filesystem = _filesystem()
        try:
            remote = self._list(filesystem)
        except OSError as error:
            raise StorageError(f"{self.uri}: {_reason(error)}") from None
        fetched = 0
        for name, (size, mtime_ns) in remote.items():
            target = self._path(name)
            if self._state(target) == [size, mtime_ns]:
                continue
            if on_file is not None:
                on_file(name, size)
            self._download(filesystem, name, target, mtime_ns)
            fetched += 1
        for name, state in list(self.synced.items()):
            target = self._path(name)
            if name not in remote and self._state(target) == state:
                target.unlink()
        self.synced = {name: self._state(self._path(name)) for name in remote}
        self._save()
        return fetched

    def _list(self, filesystem) -> dict[str, tuple[int, int]]:
        from pyarrow import fs

        info = filesystem.get_file_info(self._remote)
        if info.type == fs.FileType.File:
            return {"": (info.size, info.mtime_ns)}
        if info.type != fs.FileType.Directory:
            return {}
        selector = fs.FileSelector(self._remote, recursive=True)
        prefix = self._remote + "/"
        return {entry.path[len(prefix):]: (entry.size, entry.mtime_ns)
                for entry in filesystem.get_file_info(selector) if entry.type == fs.FileType.File}

    def _download(self, filesystem, name: str, target: Path, mtime_ns: int) -> None:
        from pyarrow import fs

        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = atomic.temporary_path(target)
        try:
            fs.copy_files(self._key(name), str(temporary), source_filesystem=filesystem,
                          destination_filesystem=fs.LocalFileSystem())
        except OSError as error:
            atomic.discard(temporary)
            raise StorageError(f"{self.uri}/{name}: {_reason(error)}".rstrip("/")) from None
        os.utime(temporary, ns=(mtime_ns, mtime_ns))  # the remote time: the next pull sees it unchanged
        atomic.commit(temporary, target)

    # -- local → remote --------------------------------------------------------------------------

    def push(self) -> int:
        """Upload complete files that are new or changed since the last sync (descriptions last),
        then delete remote files the command removed. Returns files uploaded."""
        from pyarrow import fs

        local = self._local_files()
        changed = [name for name, state in local.items() if self.synced.get(name) != state]
        changed.sort(key=lambda name: (_describes_others(name), name))
        if not changed and set(self.synced) <= set(local):
            return 0
        filesystem = _filesystem()
        try:
            for name in changed:
                fs.copy_files(str(self._path(name)), self._key(name), source_filesystem=fs.LocalFileSystem(),
                              destination_filesystem=filesystem)
                # The local copy takes the object's time, so the next pull sees nothing to fetch.
                uploaded = filesystem.get_file_info(self._key(name)).mtime_ns
                os.utime(self._path(name), ns=(uploaded, uploaded))
                self.synced[name] = self._state(self._path(name))
            for name in [name for name in self.synced if name not in local]:
                filesystem.delete_file(self._key(name))
                del self.synced[name]
        except OSError as error:
            raise StorageError(f"{self.uri}: upload stopped: {_reason(error)}") from None
        finally:
            self._save()
        return len(changed)

    def _local_files(self) -> dict[str, list[int]]:
        if self.local.is_file():
            return {"": self._state(self.local)}
        if not self.local.is_dir():
            return {}
        files = {}
        for path in sorted(self.local.rglob("*")):
            relative = path.relative_to(self.local)
            if path.is_symlink() or not path.is_file() or not _complete(relative):
                continue
            files[relative.as_posix()] = self._state(path)
        return files

    # -- helpers ---------------------------------------------------------------------------------

    def _path(self, name: str) -> Path:
        return self.local / name if name else self.local

    def _key(self, name: str) -> str:
        return f"{self._remote}/{name}" if name else self._remote

    @staticmethod
    def _state(path: Path) -> list[int] | None:
        try:
            status = path.stat()
        except OSError:
            return None
        return [status.st_size, status.st_mtime_ns]

    def _save(self) -> None:
        self._record.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(self._record, json.dumps(self.synced))


def _complete(relative: Path) -> bool:
    """Not a temporary dot-name of a write in progress, the writer lock, or a mirror's record."""
    name = relative.name
    if name in (LOCK_NAME, RAY_MARKER) or name.endswith(SYNC_SUFFIX):
        return False
    return not any(atomic.in_progress(part) for part in relative.parts)


def _describes_others(name: str) -> bool:
    """manifest.json, reports and configs name other files: they go up after them."""
    return name.endswith(".json")


def display(text: str, mirrors: list[Mirror]) -> str:
    """`text` with each mirror's local folder written as its URI (messages name what the user typed)."""
    for mirror in sorted(mirrors, key=lambda mirror: len(str(mirror.local)), reverse=True):
        text = text.replace(str(mirror.local), mirror.uri)
    return text
