"""RESULTS.md's edge section (benchmarks/edge_benchmark.py's JSON): collected, rendered and in the headline, from a
small fabricated result file (no export runs here)."""

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks import collect, report, report_sections  # noqa: E402


def _row(part, artifact, mode, size, ratio, **extra):
    row = {"preset": "vae-mnist", "part": part, "format": "tflm" if mode == "tflm" else "tflite", "mode": mode,
           "artifact": artifact, "size_bytes": size, "size_ratio": ratio, "litert_ms": None, "tflm_ms": None,
           "arena_bytes": None, "arena_recommended_bytes": None, "mse": 0.0232, "mse_change": 0.0,
           "log_likelihood_change": None, "rms_rel_error": 1e-7, "max_rel_error": 1e-6, "tolerance": 1e-4,
           "gated": False, "passes_elementwise": True, "passes_quality": None, "quality_failures": []}
    return {**row, **extra}


def _fabricated():
    rows = [
        _row("full", "model_float32.tflite", "none", 1714440, 1.0,
             litert_ms={"encode": 0.07, "decode": 0.05, "reconstruct": 0.1}),
        _row("full", "model_int8.tflite", "int8", 528968, 0.309, litert_ms={"encode": 0.03, "decode": 0.02},
             mse=0.0240, mse_change=0.033, log_likelihood_change=0.4, rms_rel_error=0.029, max_rel_error=0.55,
             tolerance=0.08, gated=True, passes_quality=True),
        _row("encoder", "encoder_tflm", "tflm", 233600, 0.267, tflm_ms=0.31, arena_bytes=7200,
             arena_recommended_bytes=9216, mse_change=0.07, rms_rel_error=0.09, max_rel_error=0.3, tolerance=0.08,
             gated=True, passes_elementwise=False, passes_quality=False,
             quality_failures=["reconstruction_mse +0.07"]),
    ]
    targets = [
        {"preset": "vae-mnist", "files": "full model", "mode": "int8", "size_ratio": 0.309, "mse_change": 0.033,
         "log_likelihood_change": 0.4},
        {"preset": "vae-mnist", "files": "encoder + decoder", "mode": "int8", "size_ratio": 0.281,
         "mse_change": 0.035, "log_likelihood_change": None},
    ]
    return {"benchmark": "edge", "command": "python benchmarks/edge_benchmark.py", "date": "2026-01-02T03:04:05+00:00",
            "data": "mnist", "settings": {"repeats": 200, "quality_samples": 1000, "parity_samples": 64,
                                          "representative_samples": 1000},
            "machine": {"cpu_model": "cpu", "cpu_cores": 2, "load_1min_start": 1.0, "load_1min_end": 2.0},
            "versions": {"tensorflow": "2.21.0"}, "rows": rows, "targets": targets}


def test_edge_section_and_headline(tmp_path):
    (tmp_path / "edge_benchmark.json").write_text(json.dumps(_fabricated()))
    others = collect.collect_other_results(str(tmp_path))
    assert [o["kind"] for o in others] == ["edge"]
    assert others[0]["recorded"] == "2026-01-02T03:04:05+00:00"

    text = "\n".join(report_sections.render_others(others))
    assert "### Edge: presets exported to every format (benchmarks/results/edge_benchmark.json)" in text
    assert "| vae-mnist | full model | int8 | 0.309 | +0.400 | +3.3% | **not met** |" in text  # size above 0.30
    assert "| vae-mnist | encoder + decoder | int8 | 0.281 | - | +3.5% | met (log-lik. not measured) |" in text
    assert "encode 0.070 / decode 0.050 / reconstruct 0.100" in text
    assert "| 0.310 | 7,200 (9,216) |" in text
    assert "**fail** (RMS 0.09 > 0.08); quality **fail** (reconstruction_mse +0.07)" in text
    assert "pass; quality pass" in text

    (headline,) = [r for r in report.headline_rows(None, None, others) if "vae-mnist" in r[0]]
    assert headline[1] == ("int8 full model 0.309; encoder + decoder 0.281; meeting the targets (log-lik. not "
                           "measured): encoder + decoder int8")
    assert headline[2:] == ("python benchmarks/edge_benchmark.py", "2026-01-02T03:04:05+00:00")
