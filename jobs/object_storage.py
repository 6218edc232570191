"""s3:// locations on the command line: each becomes its local mirror before the command runs,
and what the command wrote is uploaded when it ends (dataset_tools/storage.py).

Long commands also push at safe points (a training checkpoint, a finished video) through `push_now`,
so a run stopped half-way keeps its last checkpoint in the bucket.
"""
from __future__ import annotations

from rich.console import Console

from nircolor.dataset_tools.storage import URI, Mirror, StorageError, display

# Options whose values are rightly URIs (ray://head:10001), not locations.
URI_OPTIONS = ("--address",)
MIRRORS: list[Mirror] = []
_progress = Console(stderr=True, highlight=False)  # stderr: stdout may carry a --json document


def localize(arguments: list[str]) -> list[str]:
    """`arguments` with every location URI replaced by its freshly pulled local mirror.
    Raises StorageError (unsupported scheme, unreachable endpoint) before anything is written."""
    MIRRORS.clear()  # one command's mirrors (tests run several commands in one process)
    localized = []
    for index, argument in enumerate(arguments):
        option, equals, value = argument.partition("=") if argument.startswith("--") else ("", "", argument)
        after_uri_option = index > 0 and arguments[index - 1] in URI_OPTIONS
        if not URI.match(value) or after_uri_option or option in URI_OPTIONS:
            localized.append(argument)
            continue
        mirror = _mirror(value)
        localized.append(f"{option}{equals}{mirror.local}")
    return localized


def _mirror(uri: str) -> Mirror:
    mirror = Mirror.of(uri)
    for known in MIRRORS:
        if known.local == mirror.local:
            return known
    fetched = mirror.pull(on_file=lambda name, size: _progress.print(
        f"fetching {mirror.uri}{'/' + name if name else ''} ({size / 1e6:.1f} MB)", soft_wrap=True))
    if fetched:
        _progress.print(f"{mirror.uri}: {fetched} file(s) fetched into {mirror.local}", soft_wrap=True)
    MIRRORS.append(mirror)
    return mirror


def push_all(final: bool = False) -> None:
    """Upload what changed in every mirror; the final push says what went where."""
    for mirror in MIRRORS:
        uploaded = mirror.push()
        if final and uploaded:
            _progress.print(f"{mirror.uri}: {uploaded} file(s) uploaded", soft_wrap=True)


def push_now() -> None:
    """A safe point in a long command (a checkpoint written, a video finished): upload it now, so a
    run stopped later keeps it in the bucket. A failure here is a warning; the final push retries."""
    if not MIRRORS:
        return
    try:
        push_all()
    except StorageError as error:
        _progress.print(f"warning: {error} (retried when the command ends)", soft_wrap=True, markup=False)


def shown(text: str) -> str:
    """Messages and documents name the URI the user gave, not the cache folder behind it."""
    return display(text, MIRRORS) if MIRRORS else text


__all__ = ["MIRRORS", "StorageError", "localize", "push_all", "push_now", "shown"]
