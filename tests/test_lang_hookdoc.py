"""docs/hooks.md is generated from rmt_lang/hooks.py and must not go stale."""
from rmt.lang import hookdoc
from rmt.lang.hooks import HOOKS


def test_hooks_doc_is_current():
    assert hookdoc.DOC.read_text() == hookdoc.render(), \
        "docs/hooks.md is stale: run `python -m rmt.lang.hookdoc`"


def test_every_field_is_documented():
    text = hookdoc.render()
    for spec in HOOKS.values():
        assert f"## `{spec.name}`" in text
        for f in spec.fields:
            assert f"| `{f.name}` |" in text


def test_check_mode_reports_stale(tmp_path, monkeypatch):
    stale = tmp_path / "hooks.md"
    stale.write_text("old\n")
    monkeypatch.setattr(hookdoc, "DOC", stale)
    assert hookdoc.main(["--check"]) == 1
    hookdoc.main([])
    assert hookdoc.main(["--check"]) == 0
