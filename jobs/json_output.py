"""`--json`: one JSON document on stdout for scripts; the tables and progress go to stderr meanwhile.

Every document starts with "schema": "nircolor.<command>" and "version" (bumped when a field
changes meaning or goes away; new fields may appear). The fields are listed in docs/json.md.
"""
from __future__ import annotations

import contextlib
import json
import sys

import typer

from nircolor.dataset_tools.atomic import json_safe
from nircolor.jobs.object_storage import shown
from nircolor.jobs.runtime import console

JSON_HELP = "Print one JSON document on stdout (fields: docs/json.md); tables and progress go to stderr."
VERSION = 1


def json_option():
    return typer.Option(False, "--json", help=JSON_HELP)


@contextlib.contextmanager
def json_mode(enabled: bool):
    """While enabled, the console writes to stderr, so stdout carries nothing but `emit`'s document."""
    if not enabled:
        yield
        return
    console.file = sys.stderr
    try:
        yield
    finally:
        console.file = None  # back to whatever sys.stdout is


def emit(command: str, document: dict) -> None:
    """Write the command's document to stdout, one line."""
    body = {"schema": f"nircolor.{command}", "version": VERSION, **json_safe(document)}
    sys.stdout.write(shown(json.dumps(body, ensure_ascii=False, allow_nan=False)) + "\n")  # URIs, not mirrors
    sys.stdout.flush()
