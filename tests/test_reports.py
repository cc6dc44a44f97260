"""The attribution report's choice of contributors to show."""

import pandas as pd
import pytest

from diffusion_credit.reports import top_and_bottom


def scored(*scores: float) -> pd.DataFrame:
    return pd.DataFrame({"contributor": [f"c{index}" for index in range(len(scores))], "score": scores})


@pytest.mark.parametrize(
    ("scores", "highest", "lowest"),
    [
        ((0.5, 0.1, 0.9, -0.2, 0.3, 0.0, 0.7, -0.5), ["c2", "c6", "c0"], ["c5", "c3", "c7"]),
        ((0.4, -0.1, 0.2, 0.3), ["c0", "c3"], ["c2", "c1"]),
        ((0.4, -0.1, 0.2, 0.3, 0.0), ["c0", "c3"], ["c4", "c1"]),
        ((0.4,), ["c0"], []),
    ],
)
def test_top_and_bottom_never_overlap(scores, highest, lowest):
    top, bottom = top_and_bottom(scored(*scores), 3)
    assert top == highest
    assert bottom == lowest
    assert not set(top) & set(bottom)
