"""Line charts for docs/results.md without a plotting library: OpenCV draws axes, ticks, lines, legend.

    python scripts/plot_curves.py OUT.png --x-label "CPU-hours" --y-label "test PSNR [dB]" \
        "λ = 1=/tmp/curve_l1.csv" "λ = 0.99=/tmp/curve_gan.csv"

Each series is LABEL=CSV, the CSV holding two columns x,y (a header line is skipped).
`scripts/tb_scalars.py` writes such CSVs from a run's TensorBoard scalars.
"""
from __future__ import annotations

import argparse
import csv
import math

import cv2
import numpy as np

WIDTH, HEIGHT = 900, 540
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 90, 30, 50, 70
COLORS = [(180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148), (75, 86, 140)]  # BGR
FONT = cv2.FONT_HERSHEY_SIMPLEX


def read_series(path: str) -> np.ndarray:
    rows = []
    with open(path, newline="") as handle:
        for row in csv.reader(handle):
            try:
                rows.append((float(row[0]), float(row[1])))
            except (ValueError, IndexError):
                continue  # the header, or a blank line
    return np.asarray(rows, dtype=np.float64).reshape(-1, 2)


def nice_ticks(low: float, high: float, count: int = 6) -> list[float]:
    """Round tick values (1, 2 or 5 × 10^k apart) covering [low, high]."""
    if high <= low:
        high = low + 1.0
    raw = (high - low) / max(1, count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(factor * magnitude for factor in (1, 2, 5, 10) if factor * magnitude >= raw)
    ticks = [math.floor(low / step) * step]
    while ticks[-1] < high - 1e-12:  # the last tick at or above the highest value
        ticks.append(ticks[-1] + step)
    return [round(value, 10) for value in ticks]


def draw(series: list[tuple[str, np.ndarray]], x_label: str, y_label: str, title: str) -> np.ndarray:
    image = np.full((HEIGHT, WIDTH, 3), 255, np.uint8)
    points = np.concatenate([values for _, values in series]) if series else np.zeros((1, 2))
    x_ticks = nice_ticks(points[:, 0].min(), points[:, 0].max())
    y_ticks = nice_ticks(points[:, 1].min(), points[:, 1].max())
    x_low, x_high, y_low, y_high = x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1]
    left, right, top, bottom = MARGIN_LEFT, WIDTH - MARGIN_RIGHT, MARGIN_TOP, HEIGHT - MARGIN_BOTTOM

    def to_pixel(x: float, y: float) -> tuple[int, int]:
        return (round(left + (x - x_low) / (x_high - x_low) * (right - left)),
                round(bottom - (y - y_low) / (y_high - y_low) * (bottom - top)))

    for x in x_ticks:
        px, _ = to_pixel(x, y_low)
        cv2.line(image, (px, top), (px, bottom), (230, 230, 230), 1)
        cv2.putText(image, f"{x:g}", (px - 14, bottom + 22), FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    for y in y_ticks:
        _, py = to_pixel(x_low, y)
        cv2.line(image, (left, py), (right, py), (230, 230, 230), 1)
        cv2.putText(image, f"{y:g}", (left - 60, py + 5), FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.rectangle(image, (left, top), (right, bottom), (0, 0, 0), 1)
    cv2.putText(image, x_label, ((left + right) // 2 - 5 * len(x_label), HEIGHT - 20), FONT, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(image, y_label, (10, top - 10), FONT, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    if title:  # a line of its own above the y label
        cv2.putText(image, title, (left, 20), FONT, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    for index, (label, values) in enumerate(series):
        color = COLORS[index % len(COLORS)]
        pixels = np.array([to_pixel(x, y) for x, y in values], np.int32)
        cv2.polylines(image, [pixels], False, color, 2, cv2.LINE_AA)
        for pixel in pixels:
            cv2.circle(image, tuple(int(v) for v in pixel), 3, color, -1, cv2.LINE_AA)
        legend_y = top + 20 + 22 * index
        cv2.line(image, (right - 230, legend_y - 5), (right - 200, legend_y - 5), color, 3)
        cv2.putText(image, label, (right - 192, legend_y), FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("series", nargs="+", help="LABEL=CSV")
    parser.add_argument("--x-label", default="x")
    parser.add_argument("--y-label", default="y")
    parser.add_argument("--title", default="")
    args = parser.parse_args()
    series = []
    for item in args.series:
        label, _, path = item.rpartition("=")
        series.append((label or path, read_series(path)))
    # cv2's Hershey fonts are ASCII only: spell out the Greek the docs use.
    ascii_label = lambda text: text.replace("λ", "lambda").replace("≈", "~").replace("–", "-")
    image = draw([(ascii_label(label), values) for label, values in series], ascii_label(args.x_label),
                 ascii_label(args.y_label), ascii_label(args.title))
    if not cv2.imwrite(args.out, image):
        raise SystemExit(f"{args.out}: cannot write")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
