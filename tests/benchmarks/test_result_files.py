"""The helpers that gather a benchmark's pieces into one result file."""

import json

import pytest

from benchmarks.result_files import earlier_result, missing, seed_summary


def test_seed_summary_is_the_mean_and_sample_std_over_seeds():
    runs = [{"seed": 0, "err": 2.0, "a": 60.0, "b": 60.0, "cpu": 90.0},
            {"seed": 2, "err": 4.0, "a": 120.0, "b": 0.0, "cpu": 150.0}]
    cell = seed_summary(runs, "err", wall=("a", "b"), cpu=("cpu",))
    assert cell["errors"] == [2.0, 4.0] and cell["seeds"] == [0, 2]
    assert cell["error_mean"] == 3.0
    assert cell["error_std"] == pytest.approx(2 ** 0.5)  # ddof = 1
    assert cell["wall_minutes"] == 2.0 and cell["cpu_minutes"] == 2.0
    assert seed_summary(runs[:1], "err", wall=("a",), cpu=("cpu",))["error_std"] == 0.0


def test_missing_lists_the_cells_no_run_covers_in_grid_order():
    runs = [{"method": "m2", "seed": 0, "other": 1}, {"method": "m1", "seed": 1}]
    assert missing(runs, {"method": ("m1", "m2"), "seed": (0, 1)}) == [
        {"method": "m1", "seed": 0}, {"method": "m2", "seed": 1}]
    assert missing([], {"seed": (0,)}) == [{"seed": 0}]


def test_earlier_result_adds_to_a_file_with_the_same_settings_only(tmp_path, capsys):
    path = tmp_path / "result.json"
    assert earlier_result(str(path), {"epochs": 3}, "a result") == {}
    path.write_text(json.dumps({"settings": {"epochs": 3}, "runs": []}))
    assert earlier_result(str(path), {"epochs": 3}, "a result", within="settings", required=("runs",))["runs"] == []
    with pytest.raises(SystemExit) as exit_:
        earlier_result(str(path), {"epochs": 4}, "a result", within="settings")
    assert exit_.value.code == 2
    assert "epochs 3, this run 4" in capsys.readouterr().err
    path.write_text("{truncated")
    with pytest.raises(SystemExit):
        earlier_result(str(path), {"epochs": 3}, "a result")
    assert path.read_text() == "{truncated"


def test_an_option_newer_than_the_file_matches_only_at_its_default(tmp_path, capsys):
    path = tmp_path / "result.json"
    path.write_text(json.dumps({"settings": {"epochs": 3}, "runs": []}))
    defaults = {"epochs": 10, "tied_weights": False}
    settings = {"epochs": 3, "tied_weights": False}
    assert earlier_result(str(path), settings, "a result", within="settings", defaults=defaults)["runs"] == []
    with pytest.raises(SystemExit):  # the file's runs were not tied: a tied run is another setting
        earlier_result(str(path), {**settings, "tied_weights": True}, "a result", within="settings", defaults=defaults)
    assert "tied_weights None, this run True" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # without defaults, a missing key differs
        earlier_result(str(path), settings, "a result", within="settings")
