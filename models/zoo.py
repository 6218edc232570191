"""The networks of the paper's Tables 1–3 with the figures the paper reports for them."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperModel:
    name: str
    parameters_m: float | None  # Table 3, millions
    titan_x_seconds: float | None  # Table 3, one 1024×768 frame on a TITAN X (Pascal)
    l1_error: float | None  # Table 3, or Table 2 (λ = 0.99, unconditional)
    table: int


PAPER_MODELS: tuple[PaperModel, ...] = (
    PaperModel("unet-64-s", 54.4, 0.089, 0.108879, 3),
    PaperModel("unet-64-is", 25.1, 0.171, 0.103525, 3),
    PaperModel("estuary-32-s", 68.6, 0.241, 0.100113, 3),
    PaperModel("estuary-32-is", 28.3, 0.323, 0.083664, 3),
    PaperModel("limmer-3-12-3-bp", 1.4, 0.263, 0.103510, 3),
    PaperModel("johnson-6", 2.0, 0.128, 0.126073, 3),
    PaperModel("honari-64-5", 0.5, 0.077, 0.179843, 3),
    PaperModel("honari-64-5-i", 0.2, 0.204, 0.120775, 3),
    PaperModel("estuary-16", None, None, 0.136024, 2),
    PaperModel("estuary-16-r", None, None, 0.139218, 2),
    PaperModel("estuary-16-s", None, None, 0.100473, 2),
    PaperModel("estuary-16-sr", None, None, 0.093502, 2),
    PaperModel("estuary-16-i", None, None, 0.124239, 2),
    PaperModel("estuary-16-ir", None, None, 0.133915, 2),
    PaperModel("estuary-16-is", None, None, 0.094941, 2),
    PaperModel("estuary-16-isr", None, None, 0.089726, 2),
)

TABLE3_NAMES = tuple(model.name for model in PAPER_MODELS if model.table == 3)
ALL_NAMES = tuple(model.name for model in PAPER_MODELS)


def paper_model(name: str) -> PaperModel | None:
    return next((model for model in PAPER_MODELS if model.name == name), None)
