"""Grafana's grid geometry on the 800x480 kiosk screen: what fits without scrolling.

Numbers from Grafana's source (scenes ``SceneGridLayoutRenderer``/``SceneGridLayout``, the
dashboard body padding in ``DashboardEditPaneSplitter`` and ``DashboardControls``):
24 columns, rows of 30 px, 8 px between rows and columns, no outer grid padding; the body
has 16 px padding left, right and bottom; with no visible controls Grafana still renders an
8 px padded spacer above the grid (16 px), plus 1 px of top padding. Below 768 px of grid
width the grid turns into a one-column "mobile" layout (every panel full width, stacked).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

SCREEN_WIDTH: Final = 800
SCREEN_HEIGHT: Final = 480

COLUMNS: Final = 24
ROW_HEIGHT: Final = 30
MARGIN: Final = 8  # between rows and between columns

PAD_SIDE: Final = 16
PAD_TOP: Final = 1 + 16  # body top padding + the controls spacer shown when controls are hidden
PAD_BOTTOM: Final = 16

#: SceneGridLayout stacks all panels full width when the grid is narrower than this.
MOBILE_BELOW: Final = 768

GRID_WIDTH: Final = SCREEN_WIDTH - 2 * PAD_SIDE  # 768: exactly at the mobile threshold
GRID_HEIGHT: Final = SCREEN_HEIGHT - PAD_TOP - PAD_BOTTOM  # 447
COLUMN_WIDTH: Final = (GRID_WIDTH - (COLUMNS - 1) * MARGIN) / COLUMNS  # 24.33 px


def span_px(cells: int, cell: float) -> int:
    """Pixel size of ``cells`` grid cells of size ``cell`` with margins between (as Grafana rounds)."""
    return max(round(cells * (cell + MARGIN) - MARGIN), 0)


def rows_that_fit(height: int = GRID_HEIGHT) -> int:
    """Grid rows that fit in ``height`` px: n rows take 30n + 8(n-1) px."""
    return (height + MARGIN) // (ROW_HEIGHT + MARGIN)


#: 11 rows = 410 px of the 447 px available (12 rows would need 448 px).
KIOSK_ROWS: Final = rows_that_fit()


@dataclass(frozen=True, slots=True)
class Box:
    """A panel's pixel rectangle inside the viewport."""

    left: int
    top: int
    width: int
    height: int

    @property
    def right(self) -> int:
        """First pixel column right of the panel."""
        return self.left + self.width

    @property
    def bottom(self) -> int:
        """First pixel row below the panel."""
        return self.top + self.height


def box(x: int, y: int, w: int, h: int) -> Box:
    """Where a panel at grid position (x, y, w, h) lands on the kiosk screen, in px."""
    return Box(
        left=PAD_SIDE + round(x * (COLUMN_WIDTH + MARGIN)),
        top=PAD_TOP + y * (ROW_HEIGHT + MARGIN),
        width=span_px(w, COLUMN_WIDTH),
        height=span_px(h, ROW_HEIGHT),
    )
