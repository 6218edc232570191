"""`nircolor calibrate RECORDING`: a two-camera rig's RGB→NIR homography from its frames (dataset_tools/rig.py)."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from nircolor.dataset_tools.calibration import CalibrationError, homography_error
from nircolor.dataset_tools.recording import RecordingError, load_recording
from nircolor.dataset_tools.rig import calibrate_recording, store_homography
from nircolor.dataset_tools.streams import STREAM_ERRORS
from nircolor.jobs.json_output import emit, json_mode, json_option
from nircolor.jobs.runtime import console, fail

_ERRORS = (RecordingError, CalibrationError, *STREAM_ERRORS)


def calibrate(
    recording: Path = typer.Argument(..., help="Recording folder (with recording.json) of a two-camera rig."),
    frames: int = typer.Option(30, "--frames", min=1, help="Time-paired frames to use, spread evenly over the drive."),
    write: bool = typer.Option(False, "--write", help="Store the homography in the recording's recording.json."),
    overwrite: bool = typer.Option(False, "--overwrite", help="With --write: replace a homography already stored."),
    mirrored: bool = typer.Option(False, "--mirrored",
                                  help="The RGB camera sees the scene mirrored (through a mirror or beam splitter, or flipped)."),
    as_json: bool = json_option(),
) -> None:
    """Estimate the homography mapping RGB pixels onto NIR pixels, which `dataset build` applies before registration."""
    with json_mode(as_json):
        try:
            # Refuse before the minutes of work, not after; store_homography checks again when it writes.
            stored = load_recording(recording, check_streams=False).homography
            if write and stored is not None and not overwrite:
                fail(f"{recording / 'recording.json'}: already has a homography; pass --overwrite to replace it")
            console.print(f"calibrating {escape(str(recording))} from up to {frames} frame pairs")
            result = calibrate_recording(recording, frames, mirrored=mirrored)
            written = store_homography(recording, result.calibration.homography, overwrite=overwrite) if write else None
        except _ERRORS as error:
            fail(str(error))
        calibration = result.calibration
        matrix = calibration.homography
        (nir_width, nir_height), (rgb_width, rgb_height) = result.nir_size, result.rgb_size
        console.print(f"NIR {nir_width}x{nir_height}, RGB {rgb_width}x{rgb_height}; homography (RGB pixel → NIR pixel):")
        for row in matrix:
            console.print("  " + "  ".join(f"{value:>13.6g}" for value in row))
        console.print(f"reprojection error {calibration.reprojection_error_px:.3f} px over {calibration.inliers} "
                      f"inliers of {calibration.matches} matches, {calibration.frames_used} frames")
        console.print(f"the warped RGB frame covers {result.coverage:.1%} of the NIR frame")
        change = homography_error(matrix, stored, result.rgb_size) if stored is not None else None
        if change is not None:
            console.print(f"recording.json's homography is {change:.3f} px (mean) from this one"
                          + ("; replaced" if written else ""))
        if written:
            console.print(f"written: {escape(str(written))}")
        if as_json:
            emit("calibrate", {"recording": recording, "id": result.recording.id, "homography": matrix.tolist(),
                               "reprojection_error_px": calibration.reprojection_error_px,
                               "inliers": calibration.inliers, "matches": calibration.matches,
                               "frames_used": calibration.frames_used, "coverage": result.coverage,
                               "nir_size": result.nir_size, "rgb_size": result.rgb_size,
                               "stored_difference_px": change, "written": written, "mirrored": mirrored})
