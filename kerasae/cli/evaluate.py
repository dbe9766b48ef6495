"""``kerasae evaluate RUN_DIR``: a run's test metrics, recomputed from its folder, and with ``--anomaly`` an
anomaly-detection report (the run's held-out class against the others)."""

import argparse

from kerasae.cli.arguments import positive_int
from kerasae.cli.runs import load_data, load_run


def add_parser(commands):
    """Adds ``evaluate`` to the ``commands`` sub-parsers."""
    evaluate = commands.add_parser("evaluate", help="evaluate a run folder on its test data")
    evaluate.add_argument("run_dir", help="a folder written by 'kerasae train'")
    evaluate.add_argument("--nll-samples", type=positive_int, default=None, help="importance samples for the NLL of generative models (default: the run's, else 100)")
    evaluate.add_argument("--anomaly", action="store_true", help="report anomaly-detection ROC AUC with the run's --holdout-class as anomalies")
    evaluate.add_argument("--anomaly-class", type=int, default=None, help="label treated as anomalous (default: the run's --holdout-class)")
    evaluate.add_argument("--batch-size", type=positive_int, default=256)
    return evaluate


def _anomaly_report(model, data, config, entry, anomaly_class):
    from kerasae import anomaly

    full = load_data(argparse.Namespace(**{**vars(config), "holdout_class": None}), entry)
    is_anomaly = full.y_test == anomaly_class
    if not is_anomaly.any() or is_anomaly.all():
        raise ValueError(
            f"--anomaly needs test examples of class {anomaly_class} and of other classes; the test labels "
            f"are {sorted(set(full.y_test.tolist()))}. Fix: pass an --anomaly-class that occurs."
        )
    # The threshold comes from normal validation data when there is some, so the false-positive rate on the
    # test data is an honest estimate.
    reference = data.x_val if len(data.x_val) else None
    report = anomaly.anomaly_report(model, full.x_test[~is_anomaly], full.x_test[is_anomaly], x_reference=reference)
    return {f"anomaly_{k}": v for k, v in report.items()}


def evaluate(args):
    """Runs ``kerasae evaluate``; prints and returns the test metrics."""
    model, config, entry = load_run(args.run_dir)
    if args.nll_samples is not None:
        config.nll_samples = args.nll_samples
    data = load_data(config, entry)
    batch = min(args.batch_size, len(data.x_test))
    results = model.evaluate(entry.make_pipeline(model, data, "test", batch), verbose=0, return_dict=True)
    if entry.evaluate is not None:
        results.update(entry.evaluate(model, data, config))
    if args.anomaly:
        anomaly_class = args.anomaly_class if args.anomaly_class is not None else getattr(config, "holdout_class", None)
        if anomaly_class is None:
            raise ValueError("--anomaly needs an anomalous class: train with --holdout-class C, or pass --anomaly-class C.")
        results.update(_anomaly_report(model, data, config, entry, anomaly_class))
    for name, value in results.items():
        print(f"{name}: {value:.6g}" if isinstance(value, float) else f"{name}: {value}")
    return results
