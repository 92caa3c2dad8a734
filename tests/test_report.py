import math

import pytest

from helpers.report import baseline_notes, score_table

MLM_NSP = dict(masked_accuracy=0.2371, kept_accuracy=0.9, perplexity=1234.56, mlm_loss=7.118, nsp_accuracy=0.55,
               nsp_accuracy_low=0.481, nsp_accuracy_high=0.617, nsp_loss=0.69)


def test_every_metric_beside_its_baseline():
    notes = baseline_notes(8000, {"token": ",", "accuracy": 0.061}, {"always_is_next": 0.508, "always_not_next": 0.492})
    table = score_table({"before": MLM_NSP, "after": {**MLM_NSP, "masked_accuracy": 0.3}}, notes).splitlines()
    assert table[0].split() == ["before", "after", "baseline"]
    rows = {line.split("  ")[0].strip(): line for line in table[1:]}
    assert "0.237" in rows["masked-token accuracy"] and "0.300" in rows["masked-token accuracy"]
    assert rows["masked-token accuracy"].endswith("0.061 always ','")
    assert "1,234.6" in rows["perplexity"] and rows["perplexity"].endswith("8,000 uniform guess")
    assert rows["MLM loss"].endswith(f"{math.log(8000):.2f} uniform guess (ln 8,000)")
    assert "0.550 (0.48-0.62)" in rows["NSP accuracy (95% interval)"]
    assert rows["NSP accuracy (95% interval)"].endswith("0.508 always IsNext, 0.492 always NotNext")
    assert rows["NSP loss"].endswith("0.693 coin flip (ln 2)")
    assert rows["kept-token accuracy"].endswith("1.000 copy the input")


def test_only_the_metrics_the_scores_have():
    table = score_table({"before": {"nsp_accuracy": 0.5, "nsp_loss": 0.7}})
    assert len(table.splitlines()) == 3 and "MLM" not in table and "baseline" not in table
    with pytest.raises(ValueError, match="at least one column"):
        score_table({})
