"""The manual ``clarity plugins`` prints: whole sentences, no reST or LaTeX, plain numbers, every key."""

from __future__ import annotations

import re

import pytest

from clarity_fx.manual import format_number, overview, plain_text, processor_manual, range_text, tex_text
from clarity_fx.preset import ITEM_KEYS
from clarity_fx.registry import processor_types

#: What reStructuredText, numpydoc or LaTeX leave behind when printed raw.
MARKUP = re.compile(r"``|`|:(?:class|func|meth|mod|attr|math|data|obj):|\.\. |\\[A-Za-z]|\*\*\w|^\s*-{3,}\s*$"
                    r"|^\s*=+( +=+)+\s*$", re.M)


def words(text: str) -> str:
    return " ".join(text.split())


def test_numbers_are_written_plainly():
    assert [format_number(v) for v in (1 << 20, 1e-05, -18.0, 0.001, 9.998046875, 86400.0)] == [
        "1048576", "0.00001", "-18", "0.001", "9.998046875", "86400"]
    assert format_number(0.7071067690849304) == "0.70710677"  # pedalboard's float32 of 1/sqrt(2)
    assert format_number(0.4000000059604645) == "0.4"
    assert range_text({"type": "int", "minimum": 16, "maximum": 1 << 20}) == "16 to 1048576"
    above = {"type": "float", "minimum": 0, "maximum": None, "exclusive_minimum": True}
    assert range_text(above) == "above 0"


def test_latex_becomes_unicode_text():
    assert tex_text(r"\hat\Delta_m = \arg\max_{|\Delta| \le \text{drift}} x") == (
        "Δ̂_m = arg max_(|Δ| ≤ drift) x")
    assert tex_text(r"c_k = \frac{2}{D\,g_k \sum_i v_i}") == "c_k = 2/(D g_k Σ_i v_i)"
    assert tex_text(r"P_j = \max_{c}\max(|x_c[j]|)") == "P_j = max_c max(|x_c[j]|)"
    cases = tex_text(r"y = \begin{cases} a & x > 0 \\ b & \text{otherwise} \end{cases}")
    assert cases.splitlines() == ["y =", "a   if x > 0", "b   otherwise"]


def test_rst_becomes_plain_text():
    text = "every ``R`` dB (:func:`static_curve_db`, :class:`~clarity_fx.TruePeakLimiter`, [1]_)"
    assert plain_text(text) == "every R dB (static_curve_db, TruePeakLimiter, [1])"
    assert plain_text("`FreeVerb <https://example.org/fv>`_ and **bold** and *emphasis*") == (
        "FreeVerb (https://example.org/fv) and bold and emphasis")
    page = plain_text("Text::\n\n    code\n\n.. math::\n\n    G = L_{target} − L\n\n.. [1] A paper.")
    assert page.splitlines() == ["Text:", "", "    code", "", "    G = L_target − L", "", "[1] A paper."]


def test_overview_has_every_summary_whole_and_every_parameter():
    text = overview()
    assert not MARKUP.search(text), MARKUP.search(text)
    assert "e+0" not in text and "e-0" not in text
    flat = words(text)
    for name, kind in processor_types().items():
        first = (kind.cls.__doc__ or "").strip().split("\n\n")[0]
        assert words(plain_text(first)) in flat, name  # never cut mid-word ("cascad")
        for pname in kind.params:
            assert re.search(rf"^ {{6}}{pname} ", text, re.M), (name, pname)
    assert "cascaded order times." in flat and "every R dB in become 1 dB out." in flat


def test_overview_lists_the_item_keys_mix_vst3_and_key_chains():
    text = overview()
    for key in ITEM_KEYS:
        assert re.search(rf"^  {key}: ", text, re.M), key
    assert "wet: 0 to 1, default 1" in text and "listen: one of processed, removed" in text
    assert re.search(r"^  mix  \(clarity plugins mix\)$", text, re.M)
    assert re.search(r"^  vst3  \(clarity plugins vst3\)$", text, re.M)
    assert "key chain takes processors, mix and vst3 items and the item keys" in words(text)
    assert "PATH picks an item: its index" in text  # the --set rules, from apply_overrides' docstring


@pytest.mark.parametrize("name", [*processor_types(), "mix", "vst3"])
def test_every_page_is_plain_text_with_every_parameter(name):
    page = processor_manual(name)
    found = MARKUP.search(page)
    assert found is None, (name, page[max(0, found.start() - 80): found.end() + 80])
    assert max(len(line) for line in page.splitlines()) <= 100
    assert not re.search(r"\d\.\d+e[+-]\d", page)
    if name in ("mix", "vst3"):
        return
    kind = processor_types()[name]
    for pname, spec in kind.params.items():
        line = next(row for row in page.splitlines() if row.startswith(f"  {pname}: "))
        for bound in ("minimum", "maximum"):
            if spec.get(bound) is not None and spec["type"] in ("float", "int"):
                assert format_number(spec[bound]) in line, (name, pname, line)
        if spec.get("unit"):
            assert f", {spec['unit']}," in line


def test_a_page_takes_its_parameters_words_from_the_docstring():
    page = processor_manual("dehum")
    assert "How far the fundamental may be from mains_hz, Hz (default 1.5)." in page  # numpydoc entry
    assert "  drift_hz: number, Hz, 0.05 to 5, default 1.5" in page  # Param metadata
    assert "h(t) = Σ_(k=1)^K Re{c_k e^(jkΦ(t))}" in page  # the Notes' .. math::
    builtin = processor_manual("resample")
    assert "The resampling algorithm used to resample the audio." in builtin  # pedalboard's property doc
    assert "  target_sample_rate: number, 1000 to 1536000, default 8000" in builtin
