"""The run folder's pictures: legends that cannot cover the data they explain."""

from __future__ import annotations

import pytest

from mertk.engine.history import training_curves_figure
from mertk.engine.report import per_class_figure


def assert_legends_clear_of_data(fig) -> None:
    """Every legend of ``fig`` lies wholly inside the figure and overlaps no axes, so no bar, line,
    band or bar label (all drawn inside their axes) can be hidden behind it."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)]
    assert legends, "the figure has no legend"
    for legend in legends:
        box = legend.get_window_extent(renderer)
        assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1 and fig.bbox.y0 <= box.y0 and box.y1 <= fig.bbox.y1, \
            f"legend {box} is cut off by the figure {fig.bbox}"
        for ax in fig.axes:
            data = [*ax.patches, *ax.lines, *ax.collections, *ax.texts]
            assert data, "an axes without data"
            for artist in data:
                assert not box.overlaps(artist.get_window_extent(renderer)), f"the legend covers {artist}"
            assert not box.overlaps(ax.get_window_extent(renderer)), f"the legend lies over the axes {ax.get_title()!r}"


def test_per_class_shows_precision_recall_and_f1_with_the_legend_off_the_bars() -> None:
    import matplotlib.pyplot as plt

    metrics = {"overall": {"confusion": [[30, 2, 1], [3, 25, 2], [0, 1, 44]]}}  # high bars: lower right was full
    fig = per_class_figure(metrics, ["negative", "positive", "surprise"])
    try:
        ax, = fig.axes
        assert [t.get_text() for t in fig.legends[0].get_texts()] == ["precision", "recall", "F1"]
        assert len(ax.patches) == 9  # three bars per class
        assert_legends_clear_of_data(fig)
    finally:
        plt.close(fig)


@pytest.mark.parametrize("epochs", [3, 40])
def test_training_curves_legend_covers_no_curve(epochs: int) -> None:
    """Accuracy climbing to 1 and loss falling to 0 fill the corners a legend inside would use."""
    import matplotlib.pyplot as plt

    folds = [{"history": [{"loss": 1.2 / (e + 1) + f * 0.01, "terms": {"focal": 1.1 / (e + 1), "similarity": 0.5},
                           "accuracy": min(1.0, 0.3 + e / epochs + f * 0.02), "lr": 1e-3, "seconds": 0.1}
                          for e in range(epochs)]} for f in range(4)]
    fig = training_curves_figure(folds)
    try:
        assert_legends_clear_of_data(fig)
    finally:
        plt.close(fig)
