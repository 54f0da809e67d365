"""Train / validation / test splits and the labelled subset, always by group (an ACDC patient, else a case).

Which split is used:
  1. a split file the user gives (``{"train": [groups…], "val": […], "test": […]}``, JSON);
  2. ACDC holding exactly the 100 published training patients: the published SSL4MIS / BCP split, whose train order
     matters — the labelled subset of the published protocol is a prefix of it;
  3. a layout's own test set (FIVES ``test/``), with validation groups drawn from the rest by seed;
  4. otherwise a seeded random split by group with the given fractions.
Groups without labels cannot be validated or tested, so seeded splits keep them in train (where they may serve as the
unlabelled real stream) and draw validation and test groups from the labelled ones.
"""

from __future__ import annotations

import json
import math
import warnings
from importlib import resources
from pathlib import Path

import numpy as np

from sra_seg_core.datasets.cases import CaseRef, Dataset
from sra_seg_core.errors import ConfigError, InputError

SPLITS = ("train", "val", "test")


def published_acdc_split() -> dict[str, list[str]]:
    """The published ACDC patient lists: ``train`` (70, in protocol order), ``val`` (10), ``test`` (20)."""
    text = resources.files("sra_seg_core").joinpath("data", "acdc_split.json").read_text(encoding="utf-8")
    data = json.loads(text)
    return {split: list(data[split]) for split in SPLITS}


def _groups(cases: list[CaseRef]) -> list[str]:
    return list(dict.fromkeys(case.group for case in cases))


def _labelled_groups(cases: list[CaseRef]) -> list[str]:
    """Groups (in order) whose every case has a label."""
    unlabelled = {case.group for case in cases if case.label is None}
    return [group for group in _groups(cases) if group not in unlabelled]


def _cases_by_group(cases: list[CaseRef], groups: dict[str, list[str]]) -> dict[str, list[CaseRef]]:
    """Each split's cases, group by group in the split's group order, cases in dataset order within a group."""
    members: dict[str, list[CaseRef]] = {}
    for case in cases:
        members.setdefault(case.group, []).append(case)
    return {split: [case for group in groups.get(split, []) for case in members[group]] for split in SPLITS}


def _round(x: float) -> int:
    return math.floor(x + 0.5)  # half up, not Python's half-to-even: 2.5 groups -> 3, as a reader expects


def _seeded_groups(cases: list[CaseRef], fractions: tuple[float, float, float], seed: int) -> dict[str, list[str]]:
    """Shuffle the groups with ``seed``; val and test take their share of the labelled groups, train the rest."""
    groups = sorted(_groups(cases))  # independent of the order files were found in
    order = [groups[i] for i in np.random.default_rng(seed).permutation(len(groups))]
    labelled = set(_labelled_groups(cases))
    evaluable = [group for group in order if group in labelled]
    n = len(evaluable)
    counts = [_round(f * n) for f in fractions[1:]]
    if n >= 3:  # every held-out split that is asked for gets at least one group
        counts = [max(1, c) if f > 0 else 0 for c, f in zip(counts, fractions[1:])]
    while sum(counts) > max(n - 1, 0):  # and train keeps at least one
        counts[counts.index(max(counts))] -= 1
    n_val, n_test = counts
    held = {"val": evaluable[:n_val], "test": evaluable[n_val:n_val + n_test]}
    taken = set(held["val"]) | set(held["test"])
    return {"train": [group for group in order if group not in taken], **held}


def _check_fractions(fractions) -> tuple[float, float, float]:
    values = tuple(float(f) for f in fractions)
    if len(values) != 3 or min(values) < 0 or values[0] <= 0 or not math.isclose(sum(values), 1.0, abs_tol=1e-6):
        raise ConfigError(f"split fractions must be three numbers (train, val, test) >= 0 that add up to 1, with "
                          f"train > 0; got {tuple(fractions)}")
    return values  # type: ignore[return-value]


def read_split_file(path: str | Path, groups: list[str]) -> dict[str, list[str]]:
    """A user's split file, checked against the dataset's ``groups``: each group in exactly one split."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read the split file ({exc.strerror})", path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"is not valid JSON ({exc}); expected {{\"train\": [...], \"val\": [...], "
                         "\"test\": [...]}", path) from None
    if not isinstance(data, dict) or not all(
        isinstance(data.get(s, []), list) and all(isinstance(g, str) for g in data.get(s, [])) for s in SPLITS
    ):
        raise InputError('expected {"train": [...], "val": [...], "test": [...]} with group names (ACDC patients '
                         'such as "patient001", else case ids)', path)
    split_of: dict[str, str] = {}
    for split in SPLITS:
        for group in data.get(split, []):
            if group in split_of and split_of[group] != split:
                raise InputError(f"'{group}' is listed in both {split_of[group]} and {split}", path)
            split_of[group] = split
    missing = [group for group in groups if group not in split_of]
    if missing:
        raise InputError(f"{len(missing)} group(s) of the data are in no split: {', '.join(missing[:5])}"
                         f"{' …' if len(missing) > 5 else ''}; add each to train, val or test", path)
    known = set(groups)
    unknown = [group for group in split_of if group not in known]
    if unknown:
        warnings.warn(f"{path}: {len(unknown)} listed group(s) are not in the data and are ignored: "
                      f"{', '.join(unknown[:5])}", stacklevel=3)
    return {split: [g for g in data.get(split, []) if g in known] for split in SPLITS}


def split_cases(
    dataset: Dataset,
    *,
    split_file: str | Path | None = None,
    fractions: tuple[float, float, float] = (0.7, 0.1, 0.2),
    seed: int = 1337,
) -> dict[str, list[CaseRef]]:
    """``{"train": [...], "val": [...], "test": [...]}``; a group's cases are always in the same split.

    See the module docstring for which split applies. ``fractions`` (train, val, test) and ``seed`` drive the seeded
    splits; the same seed gives the same split.
    """
    fractions = _check_fractions(fractions)
    groups = _groups(dataset.cases)
    if split_file is not None:
        return _cases_by_group(dataset.cases, read_split_file(split_file, groups))
    if dataset.layout == "project":
        from sra_seg_core.datasets.project import project_split

        return project_split(dataset, seed)
    if dataset.layout == "acdc":
        published = published_acdc_split()
        if set(groups) == {g for split in published.values() for g in split}:
            return _cases_by_group(dataset.cases, published)
    if dataset.predefined.get("test"):
        test = dataset.predefined["test"]
        test_ids = {case.case_id for case in test}
        rest = [case for case in dataset.cases if case.case_id not in test_ids]
        train_val = fractions[0] + fractions[1]
        carved = _cases_by_group(rest, _seeded_groups(rest, (fractions[0] / train_val, fractions[1] / train_val, 0.0),
                                                      seed))
        return {"train": carved["train"], "val": carved["val"], "test": list(test)}
    return _cases_by_group(dataset.cases, _seeded_groups(dataset.cases, fractions, seed))


def select_labelled(
    train: list[CaseRef], *, fraction: float | None = None, count: int | None = None, seed: int | None = None
) -> list[CaseRef]:
    """The labelled subset of the training cases, chosen by group; ``count`` (groups) overrides ``fraction``.

    ``fraction`` of the training groups: ``int(fraction * groups)``, at least 1 — the published ACDC protocol's
    5 / 10 / 20 % of 70 patients = 3 / 7 / 14. Only groups whose cases all have labels are chosen.
    ``seed`` None: the first groups in train order (the published protocol's prefix); an int: a seeded random choice.
    Returns the chosen cases in train order.
    """
    groups = _groups(train)
    if count is not None:
        if int(count) != count or count < 1:
            raise ConfigError(f"the labelled count must be a whole number of groups >= 1, not {count}")
        n = int(count)
    elif fraction is not None:
        if not 0.0 < fraction <= 1.0:
            raise ConfigError(f"the labelled fraction must be in (0, 1], not {fraction}")
        n = max(1, int(fraction * len(groups) + 1e-9))  # 1e-9: 0.29 * 100 is 28.999999999999996
    else:
        raise ConfigError("give the labelled subset as a fraction or a count of training groups")
    candidates = _labelled_groups(train)
    if n > len(candidates):
        raise ConfigError(f"{n} labelled group(s) asked for, but the training split has only {len(candidates)} "
                          f"with labels (of {len(groups)}); ask for fewer or label more cases")
    if seed is None:
        chosen = set(candidates[:n])
    else:
        chosen = {candidates[i] for i in np.random.default_rng(seed).choice(len(candidates), n, replace=False)}
    return [case for case in train if case.group in chosen]
