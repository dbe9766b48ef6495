"""``kerasae evaluate RUN_DIR``: a run's test metrics, recomputed from its folder, and with ``--anomaly`` an
anomaly-detection report, written to the run's ``metrics.json`` under ``"anomaly"``:

* a run trained with ``--normal-class D`` (the one-class protocol, Ruff et al. 2018): the whole test set is
  scored, class D normal and every other class anomalous;
* a run trained with ``--holdout-class C`` (or any run, given ``--anomaly-class C``): class C against the
  others.

The report has the ROC AUC of every score the model has (:func:`kerasae.anomaly.one_class_report`): the
reconstruction error of an autoencoder; ``-log p(x)`` (importance-weighted, ``--anomaly-samples`` samples),
the negative ELBO and the reconstruction error of a VAE; and, for a run with a validation split, first, the combined
score (:class:`kerasae.anomaly.CombinedScore`: the smoothed reconstruction error plus the distance of the code to
its 5 nearest training codes, each standardised on the validation examples). The first is the report's ``auc``,
and its threshold is the 0.99 quantile of the validation examples' scores.
"""

import argparse
import os

from kerasae.cli.arguments import positive_int
from kerasae.cli.runs import load_data, load_run, read_metrics, write_metrics

#: Importance samples of a VAE's anomaly scores unless ``--anomaly-samples`` says otherwise.
ANOMALY_SAMPLES = 100


def add_parser(commands):
    """Adds ``evaluate`` to the ``commands`` sub-parsers."""
    evaluate = commands.add_parser("evaluate", help="evaluate a run folder on its test data")
    evaluate.add_argument("run_dir", help="a folder written by 'kerasae train'")
    evaluate.add_argument("--nll-samples", type=positive_int, default=None, help="importance samples of the test NLL of generative models (default: the run's, else 100)")
    evaluate.add_argument("--anomaly", action="store_true", help="anomaly-detection ROC AUC of each score, written to the run's metrics.json: for a run trained with --normal-class D, the whole test set with D normal and the other classes anomalous; for a --holdout-class C run, C against the others")
    evaluate.add_argument("--anomaly-class", type=int, default=None, help="with --anomaly: the label treated as anomalous (default: the run's --holdout-class; not for a --normal-class run)")
    evaluate.add_argument("--anomaly-samples", type=positive_int, default=None, help=f"with --anomaly: importance samples of a VAE's scores -log p(x) and -ELBO (default: {ANOMALY_SAMPLES})")
    evaluate.add_argument("--batch-size", type=positive_int, default=256)
    return evaluate


def anomaly_setting(args, config):
    """``(normal_class, anomaly_class)`` of an ``--anomaly`` evaluation (one of them ``None``), or ``None``
    without ``--anomaly``; raises ``ValueError`` for options that do not fit the run, before anything runs."""
    if not args.anomaly:
        for option in ("anomaly_class", "anomaly_samples"):
            if getattr(args, option) is not None:
                flag = "--" + option.replace("_", "-")
                raise ValueError(f"{flag} applies to an --anomaly evaluation. Fix: add --anomaly, or drop {flag}.")
        return None
    normal_class = getattr(config, "normal_class", None)
    if normal_class is not None:
        if args.anomaly_class is not None:
            raise ValueError(
                f"--anomaly-class does not apply to {args.run_dir}: it was trained with --normal-class {normal_class}, "
                f"so every test class but {normal_class} is anomalous. Fix: drop --anomaly-class."
            )
        return normal_class, None
    anomaly_class = args.anomaly_class if args.anomaly_class is not None else getattr(config, "holdout_class", None)
    if anomaly_class is None:
        raise ValueError(
            f"--anomaly needs a run trained with --normal-class D (the one-class protocol: class D normal, the "
            f"others anomalous) or --holdout-class C, and {args.run_dir} was trained with neither. Fix: train "
            "with --normal-class D, or pass --anomaly-class C."
        )
    return None, anomaly_class


def _anomaly_report(model, data, config, entry, args, normal_class, anomaly_class):
    from kerasae import anomaly
    from kerasae.data import classes

    if normal_class is not None:
        # The run's data (kerasae.cli.runs.load_data): the normal class's validation examples fit the threshold,
        # every test example is scored.
        reference = data.x_val
        x, is_anomalous = data.x_test, classes.anomalous(data.y_test, normal_class)
    else:
        full = load_data(argparse.Namespace(**{**vars(config), "holdout_class": None}), entry)
        is_anomalous = full.y_test == anomaly_class
        if not is_anomalous.any() or is_anomalous.all():
            raise ValueError(
                f"--anomaly needs test examples of class {anomaly_class} and of other classes; the test labels "
                f"are {sorted(set(full.y_test.tolist()))}. Fix: pass an --anomaly-class that occurs."
            )
        # Normal validation data (the held-out class is not in it) fits the threshold when there is some.
        reference, x = data.x_val, full.x_test
    samples = args.anomaly_samples or ANOMALY_SAMPLES
    # With a validation split the combined score (reconstruction and distance to the training codes) comes first.
    combined = len(reference) >= 2
    report = anomaly.one_class_report(
        model, x, is_anomalous, x_reference=reference if len(reference) else None, batch_size=args.batch_size,
        num_samples=samples, seed=config.seed, x_train=data.x_train if combined else None,
        image_shape=data.image_shape,
    )
    setting = {"protocol": "one-class" if normal_class is not None else "held-out class",
               "normal_class": normal_class, "anomaly_class": anomaly_class, "samples": samples, "seed": config.seed}
    return {**setting, **report}


def record_anomaly(run_dir, report):
    """Writes ``report`` to the run's ``metrics.json`` under ``"anomaly"`` (atomically, holding the run's lock)."""
    from kerasae.utils import files

    with files.locked(run_dir, what=f"the run folder {run_dir}", fix="evaluate again when it has finished"):
        metrics = read_metrics(run_dir)
        metrics["anomaly"] = report
        write_metrics(os.path.join(run_dir, "metrics.json"), metrics)


def evaluate(args):
    """Runs ``kerasae evaluate``; prints and returns the test metrics (with ``--anomaly``, the report's
    entries prefixed ``anomaly_``)."""
    model, config, entry = load_run(args.run_dir)
    setting = anomaly_setting(args, config)  # before anything runs
    if args.nll_samples is not None:
        config.nll_samples = args.nll_samples
    data = load_data(config, entry)
    batch = min(args.batch_size, len(data.x_test))
    results = model.evaluate(entry.make_pipeline(model, data, "test", batch), verbose=0, return_dict=True)
    if entry.evaluate is not None:
        results.update(entry.evaluate(model, data, config))
    report = None
    if setting is not None:
        report = _anomaly_report(model, data, config, entry, args, *setting)
        results.update({f"anomaly_{k}": v for k, v in report.items() if v is not None})
    for name, value in results.items():
        print(f"{name}: {value:.6g}" if isinstance(value, float) else f"{name}: {value}")
    if report is not None:
        record_anomaly(args.run_dir, report)
    return results
