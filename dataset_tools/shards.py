"""HDF5 shards of registered NIR/RGB pairs (DESIGN "Data contracts"; paper §4: the training pairs).

One shard holds the pairs of one recording (or one segment of it, or one frame size of a pair
folder). It is written under a temporary name in its final folder and renamed when complete, and
its bytes depend only on its content (no HDF5 timestamps), so its sha256 is reproducible. Frames
are stored with HDF5's standard gzip (deflate) filter, so any HDF5 reader opens them, but the
deflate streams come from ISA-L and are written chunk by chunk: about five times faster than zlib.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from isal import isal_zlib

from nircolor.dataset_tools import atomic
from nircolor.dataset_tools.vector_state import clear_upper_vector_state

SHARD_SCHEMA = "nircolor.shard"
SHARD_VERSION = 1
SPLITS = ("train", "eval")
_DATASETS = ("nir", "rgb", "frame_index", "pts_seconds", "registration_shift", "registration_score")
_ATTRS = ("schema", "version", "recording_id", "day", "location", "split", "nir_bits")


class ShardError(ValueError):
    """A shard that cannot be written or read; the message names the file and the problem."""


@dataclass(frozen=True)
class ShardInfo:
    path: Path
    pairs: int
    sha256: str


@dataclass(frozen=True)
class ShardHeader:
    path: Path
    schema: str
    version: int
    recording_id: str
    day: str
    location: str
    split: str
    nir_bits: int
    pairs: int
    height: int
    width: int


def nir_dtype(nir_bits: int) -> np.dtype:
    """NIR keeps its native depth: 8 bits in uint8, 9–16 bits in uint16."""
    if not 1 <= int(nir_bits) <= 16:
        raise ShardError(f"nir_bits must be between 1 and 16, got {nir_bits}")
    return np.dtype(np.uint8) if nir_bits <= 8 else np.dtype(np.uint16)


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ShardWriter:
    """Append pairs one at a time; `close()` renames the finished file and returns its ShardInfo.

    Used as a context manager, an exception inside the block removes the temporary file, so a
    crash never leaves a half shard under the final name.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        recording_id: str,
        day: str,
        location: str,
        split: str,
        nir_bits: int,
        height: int,
        width: int,
        compression: str | None = "gzip",
        compression_level: int = 1,
    ):
        # compression: "gzip" (deflate by ISA-L; compression_level on its 0–3 scale), "lzf", or None.
        self.path = Path(path)
        if split not in SPLITS:
            raise ShardError(f"{self.path}: split must be one of {', '.join(SPLITS)}, got {split!r}")
        self.height, self.width = int(height), int(width)
        self.nir_bits = int(nir_bits)
        self.dtype = nir_dtype(self.nir_bits)
        self.pairs = 0
        self._info: ShardInfo | None = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.temporary_path = atomic.temporary_path(self.path)
        # track_order off, track_times off everywhere: identical content → identical bytes.
        self._file = h5py.File(self.temporary_path, "w")
        self._file.attrs["schema"] = SHARD_SCHEMA
        self._file.attrs["version"] = SHARD_VERSION
        self._file.attrs["recording_id"] = str(recording_id)
        self._file.attrs["day"] = str(day)
        self._file.attrs["location"] = str(location)
        self._file.attrs["split"] = split
        self._file.attrs["nir_bits"] = self.nir_bits
        options = {"track_times": False}
        image_options = dict(options)
        # Frames are deflated here and written as finished chunks (HDF5 would deflate with zlib).
        self._deflate_level = int(np.clip(compression_level, 0, 3)) if compression == "gzip" else None
        if compression:
            image_options.update(compression=compression, shuffle=self.dtype.itemsize > 1)
            if compression == "gzip":
                image_options["compression_opts"] = self._deflate_level
        h, w = self.height, self.width
        self._nir = self._file.create_dataset(
            "nir", shape=(0, h, w), maxshape=(None, h, w), dtype=self.dtype, chunks=(1, h, w), **image_options
        )
        image_options["shuffle"] = False
        self._rgb = self._file.create_dataset(
            "rgb", shape=(0, h, w, 3), maxshape=(None, h, w, 3), dtype=np.uint8, chunks=(1, h, w, 3), **image_options
        )
        vector = {"chunks": (1024,), "maxshape": (None,), **options}
        self._frame_index = self._file.create_dataset("frame_index", shape=(0,), dtype=np.int64, **vector)
        self._pts = self._file.create_dataset("pts_seconds", shape=(0,), dtype=np.float64, **vector)
        self._score = self._file.create_dataset("registration_score", shape=(0,), dtype=np.float32, **vector)
        self._shift = self._file.create_dataset(
            "registration_shift", shape=(0, 2), maxshape=(None, 2), chunks=(1024, 2), dtype=np.float32, **options
        )
        self._frame_indices: list[int] = []
        self._pts_list: list[float] = []
        self._shifts: list[tuple[float, float]] = []
        self._scores: list[float] = []

    def append(self, nir: np.ndarray, rgb: np.ndarray, frame_index: int, pts_seconds: float,
               shift: tuple[float, float] = (0.0, 0.0), score: float = float("nan")) -> None:
        nir = np.asarray(nir)
        rgb = np.asarray(rgb)
        if nir.shape != (self.height, self.width):
            raise ShardError(f"{self.path}: NIR frame is {nir.shape}, shard expects ({self.height}, {self.width})")
        if rgb.shape != (self.height, self.width, 3):
            raise ShardError(f"{self.path}: RGB frame is {rgb.shape}, shard expects ({self.height}, {self.width}, 3)")
        if nir.dtype != self.dtype:
            raise ShardError(f"{self.path}: NIR frame is {nir.dtype}, {self.nir_bits}-bit NIR is stored as {self.dtype}")
        if rgb.dtype != np.uint8:
            raise ShardError(f"{self.path}: RGB frame is {rgb.dtype}, expected uint8")
        n = self.pairs
        for dataset in (self._nir, self._rgb):
            dataset.resize(n + 1, axis=0)
        if self._deflate_level is None:
            self._nir[n] = nir
            self._rgb[n] = rgb
        else:
            self._nir.id.write_direct_chunk((n, 0, 0), self._deflate(nir, shuffle=self.dtype.itemsize > 1))
            self._rgb.id.write_direct_chunk((n, 0, 0, 0), self._deflate(rgb, shuffle=False))
        # The per-pair numbers are kept here and written once at close (one HDF5 write each, not one per pair).
        self._frame_indices.append(int(frame_index))
        self._pts_list.append(float(pts_seconds))
        dy, dx = (float(value) for value in np.asarray(shift, dtype=np.float64).reshape(2))
        self._shifts.append((dy, dx))
        self._scores.append(float(score))
        self.pairs = n + 1

    def _write_vectors(self) -> None:
        for dataset, values, dtype in ((self._frame_index, self._frame_indices, np.int64),
                                       (self._pts, self._pts_list, np.float64),
                                       (self._shift, self._shifts, np.float32),
                                       (self._score, self._scores, np.float32)):
            dataset.resize(len(values), axis=0)
            if values:
                dataset[:] = np.asarray(values, dtype=dtype).reshape(dataset.shape)

    def _deflate(self, frame: np.ndarray, shuffle: bool) -> bytes:
        """One chunk as HDF5's filter pipeline would store it: byte shuffle (multi-byte pixels), then zlib stream."""
        frame = np.ascontiguousarray(frame)
        if shuffle:
            # (itemsize, pixels): all first bytes, then all second bytes, as HDF5's shuffle filter lays them out.
            frame = np.ascontiguousarray(frame.view(np.uint8).reshape(-1, frame.dtype.itemsize).T)
        deflated = isal_zlib.compress(frame, self._deflate_level)
        clear_upper_vector_state()  # or the next frames decode 20–30% slower (dataset_tools/vector_state.py)
        return deflated

    def close(self) -> ShardInfo:
        if self._info is not None:
            return self._info
        try:
            self._write_vectors()
        except BaseException:
            self.abort()
            raise
        self._file.close()
        sha256 = file_sha256(self.temporary_path)
        atomic.commit(self.temporary_path, self.path)
        self._info = ShardInfo(self.path, self.pairs, sha256)
        return self._info

    def abort(self) -> None:
        """Drop the unfinished shard (nothing appears under the final name)."""
        if self._info is not None:
            return
        try:
            self._file.close()
        finally:
            atomic.discard(self.temporary_path)

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, exc_type, exc, traceback) -> bool:
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False


def read_shard_header(path: str | os.PathLike) -> ShardHeader:
    """Attributes and sizes of a shard, without reading its frames.

    Every contract attribute must be there and readable, and the frames must fit them (rgb pairs
    with nir, nir's type matches nir_bits): anything else is one ShardError naming the file, never
    a default.
    """
    path = Path(path)
    if not path.is_file():
        raise ShardError(f"{path}: shard not found")
    try:
        with h5py.File(path, "r") as handle:
            missing = [name for name in _ATTRS if name not in handle.attrs] + [
                name for name in _DATASETS if name not in handle
            ]
            if missing:
                raise ShardError(f"{path}: not a nircolor shard (missing {', '.join(missing)})")
            attrs, nir, rgb = handle.attrs, handle["nir"], handle["rgb"]
            if nir.ndim != 3 or rgb.shape != (*nir.shape, 3):
                raise ShardError(f"{path}: rgb has shape {rgb.shape}, nir {nir.shape}: they do not pair up")
            nir_type = nir.dtype
            header = ShardHeader(
                path=path,
                schema=_text(attrs["schema"]),
                version=int(attrs["version"]),
                recording_id=_text(attrs["recording_id"]),
                day=_text(attrs["day"]),
                location=_text(attrs["location"]),
                split=_text(attrs["split"]),
                nir_bits=int(attrs["nir_bits"]),
                pairs=int(nir.shape[0]),
                height=int(nir.shape[1]),
                width=int(nir.shape[2]),
            )
    except ShardError:
        raise
    except (OSError, KeyError, ValueError, TypeError, IndexError) as error:
        raise ShardError(f"{path}: cannot read shard ({error})") from None
    if not 1 <= header.nir_bits <= 16:
        raise ShardError(f"{path}: attribute nir_bits is {header.nir_bits}, expected 1 to 16")
    if nir_type != nir_dtype(header.nir_bits):
        raise ShardError(f"{path}: nir is {nir_type} but nir_bits is {header.nir_bits}")
    return header


def _text(value) -> str:
    """A string attribute as h5py returns it (str, or bytes from other writers)."""
    return value.decode() if isinstance(value, bytes) else str(value)


class ShardReader:
    """One shard opened for reading: its header (attributes incl. nir_bits, sizes) and its frames.

    The header is read and checked on opening (`read_shard_header`); the HDF5 file itself is opened
    on the first frame read, in the process that reads (an open handle must not be inherited by
    forked loader workers), and never pickled, so a reader can go to Ray workers and DataLoaders.
    """

    def __init__(self, path: str | os.PathLike):
        self.header = read_shard_header(path)
        self.path = self.header.path
        self._file: h5py.File | None = None

    @property
    def nir_bits(self) -> int:
        return self.header.nir_bits

    @property
    def recording_id(self) -> str:
        return self.header.recording_id

    @property
    def is_open(self) -> bool:
        return self._file is not None

    def __len__(self) -> int:
        return self.header.pairs

    def _handle(self) -> h5py.File:
        if self._file is None:
            try:
                self._file = h5py.File(self.path, "r")
            except OSError as error:
                raise ShardError(f"{self.path}: cannot read shard ({error})") from None
        return self._file

    def pair(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(nir (H,W) uint8|uint16, rgb (H,W,3) uint8) of one pair."""
        if not 0 <= index < len(self):
            raise IndexError(f"{self.path}: pair {index} out of range (shard has {len(self)})")
        handle = self._handle()
        return handle["nir"][index], handle["rgb"][index]

    def frames(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """(nir (B,H,W), rgb (B,H,W,3)) of pairs [start, stop)."""
        handle = self._handle()
        return handle["nir"][start:stop], handle["rgb"][start:stop]

    def rgb(self, index: int) -> np.ndarray:
        return self._handle()["rgb"][index]

    def registration(self) -> tuple[np.ndarray, np.ndarray]:
        """(shifts (N,2) dy, dx in px, scores (N,)) of every pair; a garbled dataset is one ShardError naming the file."""
        handle = self._handle()
        try:
            shifts, scores = handle["registration_shift"][:], handle["registration_score"][:]
        except (OSError, KeyError, ValueError, TypeError) as error:
            raise ShardError(f"{self.path}: cannot read registration ({error})") from None
        n = len(self)
        if shifts.shape != (n, 2) or scores.shape != (n,) or shifts.dtype.kind != "f" or scores.dtype.kind != "f":
            raise ShardError(f"{self.path}: registration_shift is {shifts.dtype} {shifts.shape}, registration_score "
                             f"{scores.dtype} {scores.shape}; expected floats ({n}, 2) and ({n},)")
        return shifts, scores

    def batches(self, batch_size: int, stop: int | None = None):
        """Yields (first index, nir (B,H,W), rgb (B,H,W,3)) in order, up to pair `stop` (default: all)."""
        stop = len(self) if stop is None else min(len(self), stop)
        for start in range(0, stop, batch_size):
            yield (start, *self.frames(start, min(start + batch_size, stop)))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __getstate__(self) -> dict:
        # Never pickle an open HDF5 handle: every process opens its own.
        return {**self.__dict__, "_file": None}

    def __enter__(self) -> "ShardReader":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False


def open_shard(path: str | os.PathLike) -> ShardReader:
    """The one way to read a shard: `with open_shard(path) as shard: shard.nir_bits, shard.pair(0)`."""
    return ShardReader(path)
