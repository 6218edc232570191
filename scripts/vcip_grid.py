"""Cut docs/results/vcip_test_grid.png from `nircolor evaluate`'s grid.png (Figure-6-like, §4.5).

Drops the two baseline columns, keeps 3 of its 4 rows at 128-px tiles and redraws the header (the
original's text would be unreadable at half size). Usage: python scripts/vcip_grid.py GRID.png OUT.png
"""
import sys

import cv2
import numpy as np

source, target = sys.argv[1], sys.argv[2]
grid = cv2.imread(source)
header, tile = 28, 256
names = ["input (NIR)", "estuary-16", "estuary-16-i", "estuary-16-s", "estuary-16-is", "estuary-16-isr",
         "johnson-6", "unet-64-s", "NIR as gray", "train mean colour", "target"]
keep_columns = [0, 1, 2, 3, 4, 5, 6, 7, 10]
keep_rows = [0, 1, 2]
small = 128
rows = []
for row in keep_rows:
    y = header + row * tile
    rows.append(np.concatenate([cv2.resize(grid[y:y + tile, c * tile:(c + 1) * tile], (small, small),
                                           interpolation=cv2.INTER_AREA) for c in keep_columns], axis=1))
body = np.concatenate(rows, axis=0)
top = np.full((18, body.shape[1], 3), 255, np.uint8)
for position, column in enumerate(keep_columns):
    cv2.putText(top, names[column], (position * small + 3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.36, (0, 0, 0), 1, cv2.LINE_AA)
cv2.imwrite(target, np.concatenate([top, body], axis=0), [cv2.IMWRITE_PNG_COMPRESSION, 9])
