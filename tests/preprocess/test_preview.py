"""Preview sheets carry their colour keys on the sheet itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mertk.preprocess.pipeline import Prepared
from mertk.preprocess.preview import flow_key, flow_to_rgb, preview_sheet, write_previews


def _prepared() -> Prepared:
    g = torch.Generator().manual_seed(0)
    return Prepared(sample_ids=["demo/sub01/clip1"], records=[{"face_method": "dlib-hog", "onset": 0, "apex": 4,
                                                               "apex_source": "annotation"}],
                    views={"face": torch.rand(1, 3, 28, 28, generator=g), "grey": torch.rand(1, 1, 28, 28, generator=g)},
                    problems=[], landmarks=torch.rand(1, 68, 2, generator=g) * 64,
                    faces=torch.rand(1, 1, 64, 64, generator=g), flows=torch.randn(1, 2, 64, 64, generator=g))


@pytest.mark.parametrize(("direction", "rim"), [((1.0, 0.0), (31, 61)), ((0.0, 1.0), (61, 31)),
                                                ((-1.0, 0.0), (31, 2)), ((0.0, -1.0), (2, 31))])
def test_the_flow_key_shows_the_colour_of_each_direction(direction, rim) -> None:
    """A flow pointing right (x) or down (y, image axes) gets the key's colour at that side's rim."""
    flow = torch.tensor(direction).view(2, 1, 1).expand(2, 8, 8).clone()
    colour = flow_to_rgb(flow)[0, 0].astype(int)
    assert np.abs(flow_key(64)[rim].astype(int) - colour).max() <= 40
    assert (flow_key(64)[0, 0] == 255).all()  # outside the disc


def test_a_preview_sheet_has_a_colour_key_for_every_coloured_panel(tmp_path) -> None:
    import matplotlib.pyplot as plt

    prepared = _prepared()
    fig = preview_sheet(prepared, 0, ["u", "v", "strain"])
    try:
        titles = [ax.get_title() for ax in fig.axes]
        peak = titles[1].removeprefix("flow (max ").removesuffix(")")
        assert titles[:4] == ["aligned apex + landmarks", f"flow (max {peak})", f"flow key: direction\n(rim: {peak})",
                              "strain"]
        colour_bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
        assert len(colour_bars) == 2  # strain and the single-channel view
        rgb_view = next(ax for ax in fig.axes if ax.get_title() == "view 'face'")
        assert [t.get_text() for t in rgb_view.get_legend().get_texts()] == ["red: u", "green: v", "blue: strain"]
    finally:
        plt.close(fig)
    assert [p.name for p in write_previews(prepared, tmp_path, 1)] == ["demo__sub01__clip1.png"]
