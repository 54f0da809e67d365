"""Property test of the config validation: every field of the tree, fuzzed from its declared type and range and from
just outside it. A value inside is accepted (and kept as given); a value outside is refused with one ConfigError line
that names the field; any mix of accepted values either validates or is refused the same way. The strategies are
built from each field's declared :class:`~sra_seg_core.config.Allowed`, so a new field is fuzzed without a new test.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sra_seg_core.cli import build_parser, main
from sra_seg_core.commands.train import resolve_config
from sra_seg_core.config import Allowed, RunConfig, allowed
from sra_seg_core.errors import ConfigError

CONFIG = RunConfig()
FIELDS = [(f"{s.name}.{f.name}", getattr(CONFIG, s.name), f.name)
          for s in dataclasses.fields(CONFIG) for f in dataclasses.fields(getattr(CONFIG, s.name))]
UNBOUNDED = 10**7  # where a range is open-ended, draw this far past its bound


def hint_of(section, name):
    hint = typing.get_type_hints(type(section))[name]
    optional = typing.get_origin(hint) in (typing.Union, types.UnionType)
    if optional:
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    return hint, optional


def _low_high(rules: Allowed, whole: bool):
    low = rules.ge if rules.ge is not None else rules.gt
    high = rules.le if rules.le is not None else rules.lt
    return low, high


def inside(rules: Allowed, hint) -> st.SearchStrategy:
    """Values of type ``hint`` that ``rules`` allow."""
    if typing.get_origin(hint) is tuple:
        item = inside(rules, typing.get_args(hint)[0])
        n = rules.length
        return st.lists(item, min_size=n or 1, max_size=n or 6).map(tuple)
    if rules.choices is not None:
        return st.sampled_from(rules.choices)
    if rules.pattern is not None:
        return st.from_regex(rules.pattern, fullmatch=True)
    if hint is bool:
        return st.booleans()
    if hint is str:
        return st.text(max_size=20)
    low, high = _low_high(rules, hint is int)
    if hint is int:
        lo = -UNBOUNDED if low is None else int(low) + (rules.gt is not None)
        hi = (lo + UNBOUNDED) if high is None else int(high) - (rules.lt is not None)
        values = st.integers(lo, hi)
        if rules.multiple_of:
            values = st.integers(math.ceil(lo / rules.multiple_of), hi // rules.multiple_of).map(
                lambda k: k * rules.multiple_of)
        if rules.odd:
            values = st.integers(math.ceil((lo - 1) / 2), (hi - 1) // 2).map(lambda k: 2 * k + 1)
        return values
    return st.floats(min_value=low, max_value=high, exclude_min=rules.gt is not None,
                     exclude_max=rules.lt is not None, allow_nan=False, allow_infinity=False)


def outside(rules: Allowed, hint) -> st.SearchStrategy | None:
    """Values just outside what ``rules`` allow (or of the wrong type), None where every value of the type is fine."""
    if typing.get_origin(hint) is tuple:
        item_hint = typing.get_args(hint)[0]
        bad_item = outside(rules, item_hint)
        good = inside(rules, item_hint)
        options = []
        if rules.length:
            options.append(st.lists(good, min_size=0, max_size=rules.length - 1).map(tuple))
            options.append(st.lists(good, min_size=rules.length + 1, max_size=rules.length + 3).map(tuple))
            if bad_item is not None:
                options.append(st.tuples(st.lists(good, min_size=rules.length - 1, max_size=rules.length - 1),
                                         bad_item, st.integers(0, rules.length - 1)).map(
                    lambda t: tuple(t[0][:t[2]] + [t[1]] + t[0][t[2]:])))
        return st.one_of(options) if options else None
    if rules.choices is not None or rules.pattern is not None:
        choices = rules.choices or ()
        text = st.text(max_size=12).filter(lambda s: s not in choices)
        if rules.pattern is not None:
            import re

            text = text.filter(lambda s: not re.fullmatch(rules.pattern, s))
        return text if hint is str else st.one_of(st.sampled_from([v for v in range(-3, 10) if v not in choices]))
    if hint is bool:
        return st.sampled_from(["maybe", "2", "-1", "yes please"])
    if hint is str:
        return None
    low, high = _low_high(rules, hint is int)
    edges = []
    if hint is int:
        if low is not None:
            edges.append(st.just(int(low) - (rules.ge is not None)))
            edges.append(st.integers(int(low) - UNBOUNDED, int(low) - (rules.ge is not None)))
        if high is not None:
            edges.append(st.just(int(high) + (rules.le is not None)))
            edges.append(st.integers(int(high) + (rules.le is not None), int(high) + UNBOUNDED))
        lo = int(low or 0) + 1
        if rules.multiple_of:
            edges.append(st.integers(1, 1000).map(lambda k: k * rules.multiple_of + 1).filter(
                lambda v: low is None or v >= low))
        if rules.odd:
            edges.append(st.integers(max(lo // 2, 1), max(lo // 2, 1) + 100).map(lambda k: 2 * k))
        edges.append(st.sampled_from([1.5, -0.5]))  # not whole numbers
    else:
        if low is not None:
            edges.append(st.just(math.nextafter(low, -math.inf) if rules.ge is not None else low))
            edges.append(st.floats(max_value=low, exclude_max=rules.ge is not None, allow_nan=False,
                                   allow_infinity=False))
        if high is not None:
            edges.append(st.just(math.nextafter(high, math.inf) if rules.le is not None else high))
            edges.append(st.floats(min_value=high, exclude_min=rules.le is not None, allow_nan=False,
                                   allow_infinity=False))
        edges.append(st.sampled_from([math.nan, math.inf, -math.inf]))
    return st.one_of(edges)


def typed(value) -> str:
    """The text a user would type on the command line for ``value``."""
    if isinstance(value, tuple):
        return ",".join(typed(v) for v in value)
    return repr(value) if isinstance(value, float) else str(value)


FUZZED = [(key, section, name) for key, section, name in FIELDS]


@pytest.mark.parametrize("key,section,name", FUZZED, ids=[k for k, _, _ in FUZZED])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_every_value_inside_a_fields_range_is_accepted_as_given(key, section, name, data):
    hint, optional = hint_of(section, name)
    value = data.draw(st.one_of(st.none(), inside(allowed(section, name), hint)) if optional
                      else inside(allowed(section, name), hint), label="value")
    none_like = optional and isinstance(value, str) and value.strip().lower() in ("none", "null", "")
    config = RunConfig()
    config.set(key, value)
    assert getattr(getattr(config, key.split(".")[0]), name) == (None if none_like else value)
    if value is not None and not none_like:
        again = RunConfig()
        again.set(key, typed(value))  # the same value typed as --set text
        if hint is not str:
            assert getattr(getattr(again, key.split(".")[0]), name) == value


@pytest.mark.parametrize("key,section,name",
                         [f for f in FUZZED if outside(allowed(f[1], f[2]), hint_of(f[1], f[2])[0]) is not None],
                         ids=lambda f: f if isinstance(f, str) else "")
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_every_value_just_outside_a_fields_range_is_refused_with_one_line_naming_it(key, section, name, data):
    hint, _ = hint_of(section, name)
    value = data.draw(outside(allowed(section, name), hint), label="value")
    for given_as in (value, typed(value)):
        config = RunConfig()
        with pytest.raises(ConfigError) as caught:
            config.set(key, given_as)
        message = str(caught.value)
        assert key in message and "\n" not in message and "must be" in message
        assert getattr(getattr(config, key.split(".")[0]), name) == getattr(getattr(CONFIG, key.split(".")[0]), name)
        # the same value assigned directly, as a form could, is caught by validate()
        direct = RunConfig()
        setattr(getattr(direct, key.split(".")[0]), name, given_as)
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            direct.validate()


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_mix_of_accepted_values_validates_or_is_refused_with_one_line(data):
    config = RunConfig()
    for key, section, name in data.draw(st.lists(st.sampled_from(FUZZED), min_size=1, max_size=8), label="fields"):
        hint, optional = hint_of(section, name)
        rules = allowed(section, name)
        config.set(key, data.draw(st.one_of(st.none(), inside(rules, hint)) if optional else inside(rules, hint),
                                  label=key))
    try:
        config.validate()
    except ConfigError as error:
        assert "\n" not in str(error) and "batch" in str(error)  # only the batch split rules join fields


CLI_CASES = [("train.log_every", "-5"), ("optim.momentum", "1"), ("blend.hole_fraction", "1e309"),
             ("augment.p_rotate", "1.0000001"), ("train.device", "cuda:x"), ("model.channels", "16,32"),
             ("data.image_size", "4112"), ("alignment.weight", "-0.0001")]


@pytest.mark.parametrize("key,value", CLI_CASES)
def test_through_the_cli_a_value_outside_its_range_exits_2_with_one_line(capsys, tmp_path, key, value):
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--set", f"{key}={value}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --set: ") and key in err


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_through_the_cli_parser_a_value_inside_its_range_is_accepted(data):
    """``train``'s own option parsing and config resolution, without starting a trainer."""
    key, section, name = data.draw(st.sampled_from(FUZZED), label="field")
    hint, optional = hint_of(section, name)
    value = data.draw(inside(allowed(section, name), hint), label="value")
    if hint is str and (not value.strip() or value.strip().lower() in ("none", "null") or "\x00" in value):
        return  # an empty or NUL text is another case (paths are resolved); covered by the direct tests above
    args = build_parser().parse_args(["train", "--set", f"{key}={typed(value)}"])
    try:
        config = resolve_config(args)
    except ConfigError as error:  # only a batch split rule between fields may refuse a value that is fine alone
        assert "batch" in str(error) and "\n" not in str(error)
    else:
        if hint is not str:
            assert getattr(getattr(config, key.split(".")[0]), name) == value
