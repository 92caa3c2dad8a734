"""helpers.anatomy: the parameter counts add up, the tree says where the tied weight is, the drawing uses the config."""

import pytest
from transformers import BertConfig, BertForMaskedLM, BertForPreTraining

from helpers.anatomy import draw_bert, module_tree, parameter_counts, parameter_table, part_of


@pytest.fixture(scope="module")
def config():
    return BertConfig(vocab_size=500, hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=40)


@pytest.mark.parametrize("head", [BertForMaskedLM, BertForPreTraining])
def test_counts_add_up_to_the_model_and_every_parameter_has_a_part(config, head):
    model = head(config)
    counts = parameter_counts(model)
    assert sum(counts.values()) == sum(p.numel() for p in model.parameters())
    assert "other" not in counts
    assert counts["token embeddings"] == 500 * 32 and counts["position embeddings"] == 40 * 32
    assert ("NSP head" in counts) == (head is BertForPreTraining)


def test_parts_follow_the_names():
    assert part_of("bert.encoder.layer.11.attention.self.query.weight") == "encoder: self-attention"
    assert part_of("bert.encoder.layer.0.output.dense.weight") == "encoder: feed-forward"
    assert part_of("cls.predictions.transform.dense.weight") == "MLM head"
    assert part_of("cls.seq_relationship.weight") == "NSP head"


def test_table_total(config):
    model = BertForMaskedLM(config)
    assert f"{sum(p.numel() for p in model.parameters()):,}" in parameter_table(model).splitlines()[-1]


def test_tree_counts_the_tied_weight_once_and_folds_repeated_layers(config):
    model = BertForMaskedLM(config)
    tree = module_tree(model)
    first = tree.splitlines()[0]
    assert first == f"BertForMaskedLM: {sum(p.numel() for p in model.parameters()):,}"
    assert "1-2: 2 more layers like 0" in tree and "\n                1 (BertLayer)" not in tree
    decoder = next(line for line in tree.splitlines() if "decoder" in line)
    assert "shared with the token embeddings" in decoder and ": 500 +" in decoder  # its bias only
    assert "Dropout" not in tree


def test_drawing_shows_this_config(config):
    fig = draw_bert(config)
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    for expected in ("x 3 layers", "500", "32 -> 64 -> 32", "2 heads of 16"):
        assert expected in texts
