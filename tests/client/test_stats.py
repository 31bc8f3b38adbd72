"""The client's own statistics: a fraction's interval (Wilson) stays inside [0, 1]."""

from __future__ import annotations

import pytest

from client.show import recovered_text
from client.stats import wilson


def test_wilson_matches_the_textbook_value() -> None:
    # 8 of 10: Wilson 95% interval (0.490, 0.943) (Agresti & Coull 1998, Table 1 style check)
    low, high = wilson(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)


@pytest.mark.parametrize(("k", "n"), [(0, 4), (4, 4), (1, 4), (3, 24), (24, 24)])
def test_wilson_stays_in_the_unit_interval_and_holds_the_estimate(k: int, n: int) -> None:
    low, high = wilson(k, n)
    assert 0.0 <= low <= k / n <= high <= 1.0 and high - low > 0


def test_a_recovered_fraction_reads_as_a_count_with_its_interval() -> None:
    assert recovered_text(0.25, 4) == "1 of 4 seeds (95% 0.05-0.70)"
    assert recovered_text(None, 0) == "-"
