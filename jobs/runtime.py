"""What every command shares: the console, one-line errors, and starting Ray (embedded or --address)."""
from __future__ import annotations

import os
import sys

import typer
from rich.console import Console
from rich.markup import escape

from nircolor.jobs.object_storage import shown

# Logs and CI output are not terminals; rich would squeeze tables into 80 columns there.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 140)
error_console = Console(stderr=True, highlight=False)

ADDRESS_HELP = ("Ray cluster: `auto` (the cluster this machine belongs to), HOST:PORT of the head node, or "
                "ray://HOST:10001 (Ray Client, not advised for training); default: $RAY_ADDRESS when set "
                "(as under `ray job submit`), else an embedded local Ray.")


def frame_size(text: str, option: str = "--size", minimum: int = 1) -> tuple[int, int]:
    """'1024x768' → (width, height): the one frame-size convention of every command (WxH)."""
    width, separator, height = text.lower().partition("x")
    try:
        size = (int(width), int(height))
    except ValueError:
        size = None
    if not separator or size is None or min(size) < minimum:
        fail(f"{option} {text!r}: expected WxH with sides of at least {minimum} pixels, e.g. 1024x768")
    return size


def fail(message: str, code: int = 1) -> None:
    """Print one clear line and exit non-zero (never a traceback)."""
    # Escape: messages quote user input and grammars like `[-i][c]` that rich would eat as markup.
    error_console.print(f"[bold red]error:[/] {escape(shown(message))}", soft_wrap=True)
    raise typer.Exit(code)


def init_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Connect to the cluster `address` names, else the one $RAY_ADDRESS names (`ray job submit` sets
    it for the job's driver), else start an embedded Ray. Idempotent."""
    import ray  # here, not at the top: Ray takes seconds to import and `--help` needs none of it

    if ray.is_initialized():
        return
    # Keep an embedded Ray quiet and light: no dashboard, logs to files only.
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        try:
            ray.init(address=address, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError, TimeoutError) as error:
            first = next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)
            fail(f"cannot reach the Ray cluster at {address}: {first}")
    else:
        # address="local": embedded means our own instance, not whichever cluster this machine started last.
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)


PRECISION_HELP = ("Inference precision: auto (bf16 where the CPU has AVX-512-BF16/AMX or on CUDA, for model "
                  "families that keep bf16 within 2/255 of float32; else fp32), fp32 or bf16.")
COMPILE_HELP = ("torch.compile the model (inductor, frozen weights): tens of seconds per frame size, then "
                "faster; default: only for jobs of 500 frames or more on the CPU.")


def inference_options(precision: str, compile_model: bool | None):
    """--precision and --compile/--no-compile, checked before any work starts."""
    from nircolor.models.inference import InferenceOptions  # torch loads on use, keeping `--help` fast

    try:
        return InferenceOptions(precision=precision, compile=compile_model)
    except ValueError as error:
        fail(str(error))
