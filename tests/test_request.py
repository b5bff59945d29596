"""One request: its fields are listed once (abcgen.request.FIELDS), and the page, the API, the
command line and share links agree with that list; the tune type reaches the model."""
import inspect

import pytest

from abcgen.errors import FieldError
from abcgen.request import FIELDS, NAMES, Request
from abcgen.tune_types import TUNE_TYPES


def test_api_signature_and_its_inputs_are_the_request_fields():
    from abcgen.web.events import Composer
    params = [p for p in inspect.signature(Composer.compose).parameters if p not in ("self", "request")]
    assert sorted(params) == sorted(NAMES)
    for name, param in inspect.signature(Composer.compose).parameters.items():
        if name in NAMES and param.default is not inspect.Parameter.empty:
            default = next(f.default for f in FIELDS if f.name == name)
            assert param.default in (default, None), name     # None: filled in by the type


def test_page_fields_are_request_fields(tmp_path, monkeypatch):
    import app
    from abcgen.web.events import Config
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))      # create() points the framework there
    composer = app.create(Config(files_dir=tmp_path))
    app.build(composer)
    assert set(composer.ui.fields) <= set(NAMES)
    assert set(NAMES) - set(composer.ui.fields) == {"top_p"}      # the API's only


def test_command_line_options_are_the_request_fields():
    from abcgen.generate import build_parser
    dests = {a.dest for a in build_parser()._actions}
    assert set(NAMES) <= dests


def test_share_link_carries_every_request_field_and_the_tune():
    from abcgen.web import share
    assert set(share.SETTINGS) == set(NAMES) | {"abc"}
    values = Request.read({"type": "hornpipe", "key": "A", "seed": 7}).values()
    assert share.unpack(share.pack(values)) == {k: v for k, v in values.items() if v not in ("", None)}


def test_a_type_fills_in_what_is_not_given_and_given_values_win():
    for kind in TUNE_TYPES.values():
        h = Request.read({"type": kind.name.title(), "key": "G"}).header
        assert (h.kind, h.meter, h.unit, h.tempo) == (kind.name, kind.meter, kind.unit, kind.tempo)
        assert Request.read({"type": kind.name}).form == kind.form
    r = Request.read({"type": "reel", "meter": "2/2", "form": "AB"})
    assert (r.header.meter, r.form, r.header.kind) == ("2/2", "AB", "reel")
    assert Request.read({"type": "clog"}).header.kind == "hornpipe"   # tune books' spellings
    assert "R:reel\n" in Request.read({"type": "reel"}).header.full()
    assert "R:" not in Request.read({}).header.full()


@pytest.mark.parametrize("values, field", [
    ({"type": "polka-dot"}, "type"), ({"meter": "7/0"}, "meter"), ({"seed": -1}, "seed"),
    ({"form": "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}, "form"), ({"opening": "a" * 1001}, "opening"),
    ({"colour": "red"}, "colour")])
def test_a_bad_value_names_its_field(values, field):
    with pytest.raises(FieldError) as e:
        Request.read(values)
    assert e.value.field == field


def test_the_prompt_names_the_type_only_where_the_model_learned_it(sampler):
    from abcgen.sampling.asked import Header
    from abcgen.sampling.sample import Sampler
    reel = Header.parse("4/4", "1/8", "D", kind="reel")
    learned = Sampler(sampler.model, sampler.vocab, types={"reel"})
    if "R" not in sampler.vocab.index:
        pytest.fail("the tiny model's tunes (O'Neill's) name their types: R must be in its vocabulary")
    assert learned.type_line(reel) == "R:reel\n"
    assert learned.type_line(Header.parse("3/4", "1/8", "D", kind="waltz")) == ""
    assert Sampler(sampler.model, sampler.vocab).type_line(reel) == ""


def test_the_type_reaches_the_model(sampler):
    """What the model reads first under a learned type: the end symbol, then the R: line."""
    from abcgen.learn.vocab import END
    from abcgen.sampling.asked import Header, Settings
    from abcgen.sampling.sample import Sampler
    seen = []

    model = sampler.model
    s = Sampler(model, sampler.vocab, types={"reel"})
    forward = model.forward
    model.forward = lambda x, state=None, **kw: (seen.append(x[0].tolist()), forward(x, state, **kw))[1]
    try:
        s.sample(Header.parse("4/4", "1/8", "D", kind="reel"), settings=Settings(seed=3, max_chars=60))
    finally:
        del model.forward
    assert sampler.vocab.decode(seen[0]) == END + "R:reel\n"   # no form asked: the model writes its own next


@pytest.mark.slow
def test_every_type_of_the_table_is_written_in_its_meter_and_form(capsys):
    """`python -m abcgen.generate --type NAME` for a type (the command line), and each type of the
    table through the same request and compose call: a valid tune in the type's meter, playing its
    form, named by its R: line (the shipped model)."""
    import json
    from abcgen import generate
    from abcgen.abc.header import header_field
    from abcgen.compose import compose
    from abcgen.sampling.sample import load_sampler
    assert generate.main(["--type", "hornpipe", "--key", "G", "--seed", "3", "--json"]) == 0
    tunes = {"hornpipe": json.loads(capsys.readouterr().out)[0]["abc"]}
    sampler = load_sampler()
    for name in TUNE_TYPES:
        r = Request.read({"type": name, "key": "G", "seed": 3})
        tune = compose(sampler, r.header, r.opening, r.form, r.settings)[0]
        assert tune.valid and tune.music.plays_as == TUNE_TYPES[name].form, (name, tune.abc)
        tunes.setdefault(name, tune.abc)
    for name, abc in tunes.items():
        assert header_field(abc, "R") == name and header_field(abc, "M") == TUNE_TYPES[name].meter, abc
