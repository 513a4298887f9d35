"""The quality grade of a sample: the share of records with no quality finding, against floors."""

from __future__ import annotations

import enum
from typing import Final


class Grade(enum.StrEnum):
    EXCELLENT = "Excellent"
    GOOD = "Good"
    FAIR = "Fair"
    POOR = "Poor"
    CRITICAL = "Critical"

    @property
    def rank(self) -> int:
        """0 for Excellent … 4 for Critical."""
        return list(Grade).index(self)

    def at_least(self, other: Grade) -> bool:
        return self.rank <= other.rank


#: The lowest share of clean records (no quality finding) each grade allows; below the last
#: floor the grade is Critical. Written in docs/checks.md; change both together.
GRADE_FLOORS: Final[tuple[tuple[Grade, float], ...]] = (
    (Grade.EXCELLENT, 0.999),
    (Grade.GOOD, 0.99),
    (Grade.FAIR, 0.95),
    (Grade.POOR, 0.90),
)


def grade_for(clean: int, total: int) -> Grade | None:
    """The grade of a sample with `clean` of `total` records free of findings; None if empty."""
    if total < 0 or not 0 <= clean <= total:
        raise ValueError(f"clean ({clean}) must be between 0 and total ({total})")
    if total == 0:
        return None
    # Integer arithmetic: clean / total >= floor, without float rounding at the edge.
    for grade, floor in GRADE_FLOORS:
        if clean * 1000 >= round(floor * 1000) * total:
            return grade
    return Grade.CRITICAL
