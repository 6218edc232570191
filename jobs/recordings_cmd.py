"""`nircolor recordings scan | convert`: find drive recordings and write their recording.json
(dataset_tools/discovery.py); rewrite a recording in another form (dataset_tools/convert.py)."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from nircolor.dataset_tools.convert import FORMATS, RGB_ENCODINGS, ConvertOptions, convert_recording
from nircolor.dataset_tools.discovery import DEFAULT_TEMPLATE, ScanOptions, scan as scan_root
from nircolor.dataset_tools.discovery_takes import DiscoveryError, Take
from nircolor.dataset_tools.recording import RecordingError
from nircolor.dataset_tools.streams import STREAM_ERRORS
from nircolor.jobs.object_storage import shown
from nircolor.jobs.runtime import console, fail

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.callback()
def recordings() -> None:
    """Find drive recordings (write their recording.json), or rewrite one in another form."""
    # A callback keeps `recordings` a group: Typer runs a lone command in place of its app otherwise.


@app.command("scan")
def scan(
    root: Path = typer.Argument(..., help="Folder to search, recursively."),
    template: str = typer.Option(None, help="Where day and location sit in a recording folder's path below ROOT; "
                                            "placeholders {day} {location} {take} (one path part each) and {any} "
                                            f"(any parts); default {DEFAULT_TEMPLATE}. Ids are the path, / → -."),
    index: Path = typer.Option(None, help="CSV with a header, or JSONL: path (below ROOT: a recording folder or a "
                                          "bag), day, location, optional id. Instead of --template."),
    nir: list[str] = typer.Option(None, "--nir", metavar="PATTERN",
                                  help="Glob (repeatable, any case) for NIR video names, frame folders and bag "
                                       "topics; default *nir*.* for videos, *nir* for frame folders, *nir* *ir* "
                                       "*infra* for topics."),
    rgb: list[str] = typer.Option(None, "--rgb", metavar="PATTERN",
                                  help="Glob for RGB videos, frame folders and topics; default *rgb*.*, *rgb*, and "
                                       "*rgb* *color* for topics."),
    fps: float = typer.Option(None, help="Frame rate of frame folders that have no timestamps.txt."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing recording.json files."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Report what would be written; write nothing."),
    nir_bits: int = typer.Option(None, "--nir-bits", help="Significant bits of the NIR camera (e.g. 12 for 12-bit "
                                                          "pixels stored in 16 bits), written into every new recording.json."),
) -> None:
    """Find takes (video pairs, bags, frame folders) under ROOT and write one recording.json per folder."""
    if index is not None and template is not None:
        fail("use --template or --index, not both")
    options = ScanOptions(template=template or DEFAULT_TEMPLATE, index=index, nir=tuple(nir or ()),
                          rgb=tuple(rgb or ()), fps=fps, overwrite=overwrite, dry_run=dry_run, nir_bits=nir_bits)
    try:
        result = scan_root(root, options)
    except DiscoveryError as error:
        fail(str(error))
    for problem in result.problems:
        console.print(f"[red]error:[/] {escape(shown(problem))}", soft_wrap=True)
    for take in result.takes:
        console.print(_line(take), soft_wrap=True)
        if take.note and take.status in ("written", "would write"):
            console.print(f"  [yellow]note:[/] {escape(take.note)}", soft_wrap=True)
    count = {status: sum(take.status == status for take in result.takes) for status in ("written", "would write",
                                                                                           "exists", "skipped")}
    errors = len(result.problems) + sum(take.error for take in result.takes)
    written = f"{count['would write']} to write (dry run)" if dry_run else f"{count['written']} written"
    console.print(f"{written}, {count['exists']} existing, {count['skipped']} skipped ({errors} for an error)"
                  + ("" if result.takes else f"; no drive recordings found in {escape(shown(str(root)))}"),
                  soft_wrap=True)
    if errors:
        raise typer.Exit(1)


def _line(take: Take) -> str:
    """One line per take: what, where, and its id, day and location (or why it was skipped)."""
    streams = [take.files[key] for key in ("nir_topic", "rgb_topic") if key in take.files] or (
        [take.files["nir"], take.files["rgb"]] if take.source == take.folder and "nir" in take.files else [])
    # The streams tell apart the takes of one folder, which share its path.
    parts = take.files.get("bag") if take.kind == "bag" else None
    source = shown(str(take.source)) + (f" (+{len(parts) - 1} parts)" if isinstance(parts, list) else "")
    where = escape(source + (f" ({', '.join(map(str, streams))})" if streams else ""))
    if take.status == "skipped":
        return (f"[red]error:[/] {where}: " if take.error else f"[yellow]skipped[/]      {take.kind:<9} {where}: ") \
            + escape(take.problem)
    return (f"{take.status:<12} {take.kind:<9} {where}  "
            f"id {escape(take.id or '?')}  day {escape(take.day or '?')}  location {escape(take.location or '?')}")


@app.command("convert")
def convert(
    recording: Path = typer.Argument(..., help="A recording folder (any form)."),
    out: Path = typer.Argument(..., help="The new recording folder (must not exist)."),
    to: str = typer.Option(..., "--to", help="ros1 (.bag), ros2 (sqlite3 bag folder), ros2-mcap, mcap (plain .mcap) "
                                             "or images (PNG sequences with timestamps.txt)."),
    rgb_encoding: str = typer.Option("rgb8", "--rgb-encoding",
                                     help="Bags: rgb8, bgr8, bayer_rggb8 (…bggr8, gbrg8, grbg8), jpeg or png."),
    rgb_offset_seconds: float = typer.Option(0.0, "--rgb-offset-seconds",
                                             help="Added to the RGB stamps (simulates a camera clock error)."),
    part_messages: int = typer.Option(None, "--part-messages", min=1,
                                      help="ros1/mcap: write the bag in parts of N messages (drive_0.bag, drive_1.bag, "
                                           "...), as `rosbag record --split` does."),
) -> None:
    """Rewrite a recording in another recording form: same frames, same times."""
    if to not in FORMATS:
        fail(f"--to {to!r}: expected one of {', '.join(FORMATS)}")
    if rgb_encoding not in RGB_ENCODINGS:
        fail(f"--rgb-encoding {rgb_encoding!r}: expected one of {', '.join(RGB_ENCODINGS)}")
    if out.exists():
        fail(f"{out}: already exists (convert writes a new recording folder)")
    if part_messages is not None and to not in ("ros1", "mcap"):
        fail(f"--part-messages: bags in parts are written as ros1 or mcap, not {to}")
    options = ConvertOptions(form=to, rgb_encoding=rgb_encoding, rgb_offset_seconds=rgb_offset_seconds,
                             part_messages=part_messages)
    try:
        with console.status(f"writing {out}"):
            convert_recording(recording, out, options)
    except (RecordingError, *STREAM_ERRORS) as error:
        fail(str(error))
    console.print(f"wrote {escape(str(out))} ({to})")
