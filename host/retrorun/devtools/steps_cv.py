"""Cross-validation of the step counter (`retrorun steps eval --cv subject|dataset`): the folds,
the grid of tuned values, and choosing them on the training folds only."""

from __future__ import annotations

import statistics
from collections.abc import Iterable

from retrorun.devtools.steps_score import ape, report, rows_of, vs_forward
from retrorun.errors import RetrorunError


def subject_of(rec) -> str:
    """The fold key of `--cv subject`: 'GROUP/SUBJECT' from the recording's `subject`; a
    recording without one belongs to its whole dataset ('GROUP'), which is then held out as
    one fold (no subject of it can be told apart from another)."""
    subject = rec.meta.get("subject")
    if subject is None or subject == "":
        return rec.group
    return f"{rec.group}/{subject}"


CV_MODES = ("subject", "dataset")


def folds(recs: list, mode: str) -> list[tuple[str, list[int]]]:
    """The cross-validation folds: (key, indices of the held-out recordings), sorted by key.

    'subject': leave one subject out (`subject_of`); 'dataset': leave one dataset (file-name
    prefix, `group_of`) out. Every recording is held out in exactly one fold.
    """
    if mode not in CV_MODES:
        raise RetrorunError(f"unknown --cv {mode!r}; use subject or dataset")
    key = subject_of if mode == "subject" else (lambda r: r.group)
    out: dict[str, list[int]] = {}
    for i, rec in enumerate(recs):
        out.setdefault(key(rec), []).append(i)
    return sorted(out.items())


# Parameters of StepCounter that `--cv` tunes on the training folds, and the values tried.
# Empty: the counter has no tuned parameter; its constants are physical bounds (docs/steps.md).
TUNING: dict[str, tuple] = {}


def grid(tuning: dict[str, Iterable]) -> list[dict]:
    """Every combination of the tuned values, in order (the first value of each comes first)."""
    combos: list[dict] = [{}]
    for name, values in tuning.items():
        values = list(values)
        if not values:
            raise RetrorunError(f"tuned parameter {name!r} has no values to try")
        combos = [{**c, name: v} for c in combos for v in values]
    return combos


def criterion(recs: list, runs: list[list[tuple[int, list[int]]]],
               idx: list[int]) -> float:
    """What tuning minimises on the training recordings `idx`: the mean over their datasets of
    the dataset's MAPE, over every run (forward, and reversed with --reverse)."""
    per_group: dict[str, list[float]] = {}
    for run in runs:
        for i in idx:
            if recs[i].truth > 0:
                per_group.setdefault(recs[i].group, []).append(
                    ape(recs[i].truth, run[i][0]))
    if not per_group:
        return 0.0
    return statistics.fmean(statistics.fmean(v) for v in per_group.values())


def cross_validate(recs, samples, back, rate_hz, mode, tuning, combos, forward, backward, run):
    # counts of every recording with every combination (the defaults' run is reused for {})
    runs_f = [forward if not c else run(samples, c) for c in combos]
    runs_b = ([backward if not c else run(back, c) for c in combos]
              if backward is not None else None)
    held_f: list = [None] * len(recs)
    held_b: list = [None] * len(recs)
    out_folds = []
    everyone = range(len(recs))
    for key, test in folds(recs, mode):
        test_set = set(test)
        train = [i for i in everyone if i not in test_set]
        scores = []
        for k in range(len(combos)):
            runs = [runs_f[k]] + ([runs_b[k]] if runs_b is not None else [])
            scores.append(criterion(recs, runs, train))
        best = min(range(len(combos)), key=lambda k: (scores[k], k))
        for i in test:
            held_f[i] = runs_f[best][i]
            if runs_b is not None:
                held_b[i] = runs_b[best][i]
        out_folds.append({
            "test": key,
            "test_files": [recs[i].name for i in test],
            "train_files": len(train),
            "params": combos[best],
            "train_score": round(scores[best], 3),
        })
    rows = rows_of(recs, held_f, samples, rate_hz, False)
    doc = {"mode": mode, "tuned": {k: list(v) for k, v in tuning.items()},
           "folds": out_folds, "files": rows, "summary": report(recs, rows)}
    if runs_b is not None:
        rrows = rows_of(recs, held_b, samples, rate_hz, True)
        rsummary = report(recs, rrows)
        vs_forward(rsummary, doc["summary"])
        doc["reverse"] = {"files": rrows, "summary": rsummary}
    return doc
