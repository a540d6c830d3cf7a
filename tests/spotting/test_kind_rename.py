"""The apex-spotter kind's rename (``spotter`` -> ``apex_spotter``): old configs, models and runs still read."""

from __future__ import annotations

import pytest

from mertk.preprocess.settings import PreprocessSettings


def test_the_old_key_is_read_as_apex_spotter_with_a_warning():
    with pytest.warns(FutureWarning, match="rename the key"):
        settings = PreprocessSettings.model_validate({"spotter": "middle"})
    assert settings.apex_spotter == "middle"
    with pytest.raises(ValueError, match="both are given"):
        PreprocessSettings.model_validate({"spotter": "middle", "apex_spotter": "max-motion"})


def test_a_run_started_before_the_rename_resumes():
    from mertk.engine.fingerprint import recipe_changes

    before = {"config": {"preprocess": {"spotter": "max-motion", "flow": "tvl1"}}, "versions": {}}
    now = {"config": {"preprocess": {"apex_spotter": "max-motion", "flow": "tvl1"}}, "versions": {}}
    assert recipe_changes(before, now) == []
    other = {"config": {"preprocess": {"apex_spotter": "middle", "flow": "tvl1"}}, "versions": {}}
    assert recipe_changes(before, other) == ["preprocess.apex_spotter: max-motion -> middle"]
