"""The `nircolor` command: sub-commands grouped by pipeline stage (DESIGN: jobs/).

Each command's module (and with it torch, Ray, PyAV) is imported only when that command runs:
`nircolor --help` lists the commands from the table below, so it answers in a fraction of a second.
"""
from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version

import click
import typer
from typer.core import TyperGroup

from nircolor.jobs import object_storage
from nircolor.jobs.progress import set_log_interval
from nircolor.jobs.runtime import fail

# name → (module, attribute: a function or a Typer sub-app, one-line help)
COMMANDS = {
    "models": ("nircolor.jobs.models_cmd", "app", "The paper's networks: list, show."),
    "synth": ("nircolor.jobs.synth_cmd", "app", "Synthetic multi-CCD NIR/RGB drive recordings."),
    "recordings": ("nircolor.jobs.recordings_cmd", "app",
                   "Find drive recordings (write their recording.json), or rewrite one as a bag or frames."),
    "dataset": ("nircolor.jobs.dataset_cmd", "app", "Build, import, inspect and verify HDF5 datasets."),
    "calibrate": ("nircolor.jobs.calibrate_cmd", "calibrate",
                  "Estimate a two-camera rig's homography (RGB pixel → NIR pixel) from a recording."),
    "train": ("nircolor.jobs.train_cmd", "train", "Train a generator (GAN of §3.5) on a dataset with Ray Train."),
    "colorize": ("nircolor.jobs.colorize_cmd", "colorize", "Colorize NIR recordings or videos into RGB videos."),
    "evaluate": ("nircolor.jobs.evaluate_cmd", "evaluate",
                 "Measure checkpoints like the paper's tables (L1, PSNR, SSIM, ΔE, AE, speed)."),
    "evaluate-video": ("nircolor.jobs.evaluate_cmd", "evaluate_video",
                       "Warping error (flicker) of a colorized video against its NIR recording."),
    "reproduce": ("nircolor.jobs.reproduce_cmd", "reproduce",
                  "Train a table's models with identical settings and evaluate them (Tables 1–3)."),
    "demo": ("nircolor.jobs.demo_cmd", "demo",
             "Synthetic data → dataset → training → evaluation → colorized video, on one machine."),
    "export": ("nircolor.jobs.export_cmd", "export",
               "Export a checkpoint to ONNX and torch.export (dynamic sizes), checked against PyTorch."),
    "bench": ("nircolor.jobs.bench_cmd", "app", "Benchmarks; figures go to docs/benchmarks.md."),
}


def nircolor_version() -> str:
    try:
        return version("nircolor")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


class LazyGroup(TyperGroup):
    """A click group whose commands are imported on first use; help lists them from COMMANDS."""

    listing = False

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # s3:// locations become local mirrors now, and what the command wrote goes up when it ends,
        # whether it succeeded or not (everything under a final name is complete).
        try:
            args = object_storage.localize(args)
        except object_storage.StorageError as error:
            fail(str(error))
        if object_storage.MIRRORS:
            ctx.call_on_close(_final_push)
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), *COMMANDS]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return super().get_command(ctx, name)
        module_name, attribute, help_text = COMMANDS[name]
        if self.listing:  # the help page needs a name and a line, not the command
            return click.Command(name, help=help_text)
        target = getattr(importlib.import_module(module_name), attribute)
        if isinstance(target, typer.Typer):
            command = typer.main.get_command(target)
            command.help = command.help or help_text
        else:
            single = typer.Typer(pretty_exceptions_enable=False, add_completion=False)
            single.command(name, help=help_text)(target)
            command = typer.main.get_command(single)
        command.name = name
        return command

    def invoke(self, ctx: click.Context):
        # The one error boundary: commands turn the errors they expect into one line themselves; an
        # unexpected one still reaches the user as one line (the traceback only with --debug).
        try:
            return super().invoke(ctx)
        except PASSED_THROUGH:
            raise
        except KeyboardInterrupt:
            fail("interrupted; what was complete is kept under its final name, re-run to resume", code=130)
        except Exception as error:  # noqa: BLE001 - the boundary itself
            if DEBUG["on"]:
                raise
            first = next((line.strip() for line in str(error).splitlines() if line.strip()), "")
            fail(f"{ctx.invoked_subcommand or 'nircolor'} stopped: {type(error).__name__}"
                 f"{': ' + first[:300] if first else ''} (run `nircolor --debug ...` for the traceback)")

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self.listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self.listing = False


DEBUG = {"on": False}  # set by the global --debug option

# Exits the CLI layer means: typer >= 0.25 has its own Exit and Abort classes beside click's.
PASSED_THROUGH = (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort,
                  typer.Exit, typer.Abort, SystemExit)

app = typer.Typer(
    name="nircolor",
    cls=LazyGroup,
    help="Turn near-infrared drive recordings into natural RGB video (Limmer & Lensch, BMVC 2017).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _final_push() -> None:
    try:
        object_storage.push_all(final=True)
    except object_storage.StorageError as error:
        fail(str(error))


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"nircolor {nircolor_version()}")
        raise typer.Exit()


@app.callback()
def main(
    show_version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                      help="Print nircolor's version and exit."),
    log_interval: float = typer.Option(30.0, "--log-interval", min=0.05, metavar="SECONDS",
                                       help="When stdout is not a terminal (logs, pipes), print a progress "
                                            "line (counts, rate, ETA) at least this often."),
    debug: bool = typer.Option(False, "--debug", help="Show the Python traceback of an unexpected error "
                                                      "instead of its one-line summary."),
) -> None:
    """Turn near-infrared drive recordings into natural RGB video (Limmer & Lensch, BMVC 2017)."""
    set_log_interval(log_interval)
    DEBUG["on"] = debug


if __name__ == "__main__":
    app()
