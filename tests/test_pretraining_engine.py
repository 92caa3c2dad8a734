"""helpers.pretraining: the config checks itself and makes the command line; precision as the lessons choose it;
the lesson helpers stay independent of the engine."""

import ast
from pathlib import Path

import pytest

from helpers import REPO_ROOT
from helpers.pretraining import ConfigError, PretrainConfig, build_parser, config_from, loop


def config(**values) -> PretrainConfig:
    return PretrainConfig(text=Path("t.txt"), output=Path("out"), **values)


@pytest.mark.parametrize("values, message", [
    ({"mask_rate": 0.0}, "--mask-rate must be in (0, 1], got 0.0"),
    ({"mask_rate": 1.0}, None),
    ({"held_out_fraction": 1.0}, "--held-out-fraction must be in (0, 1), got 1.0"),
    ({"warmup_fraction": 0.0}, None),
    ({"warmup_fraction": 1.0}, "--warmup-fraction must be in [0, 1), got 1.0"),
    ({"lr": float("inf")}, "--lr must be a positive number"),
    ({"short_epochs": 2, "short_length": 128, "max_length": 512}, None),
    ({"short_epochs": 2, "short_length": 512, "max_length": 512}, "--short-length must be below --max-length (512)"),
    ({"tokens_per_batch": 511, "max_length": 500}, "--tokens-per-batch must hold one example of --max-length 500 "
                                                   "padded to 512 tokens, got 511"),
])
def test_the_config_names_the_option_that_cannot_work(values, message):
    if message is None:
        config(**values).check()
    else:
        with pytest.raises(ConfigError) as error:
            config(**values).check()
        assert str(error.value).startswith(message)


def test_a_recipe_changes_defaults_and_leaves_options_out():
    parser = build_parser("recipe.py", "", "", omit=("model", "objective"), epochs=5, text=Path("a.txt"))
    args = parser.parse_args(["--output", "o"])
    made = config_from(args, resume=True)
    assert made.epochs == 5 and made.text == Path("a.txt") and made.resume
    assert made.model is None and made.objective == "mlm+nsp", "an omitted option keeps the field's default"
    assert "--model" not in parser.format_help() and "--objective" not in parser.format_help()
    with pytest.raises(SystemExit):
        build_parser("pretrain.py", "", "").parse_args(["--output", "o"])  # --text is required there


@pytest.mark.parametrize("asked, cuda, native, chosen", [
    ("auto", False, False, "no"), ("auto", True, True, "bf16"), ("auto", True, False, "fp16"),
    ("no", True, True, "no"), ("fp16", True, True, "fp16"),
])
def test_mixed_precision_auto_is_the_lessons_choice(monkeypatch, asked, cuda, native, chosen):
    monkeypatch.setattr(loop.torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(loop, "native_bf16", lambda: native)  # a T4 emulates bf16: fp16 with a loss scaler there
    assert loop.precision(config(mixed_precision=asked)) == chosen
    assert loop.precision(config(mixed_precision="auto", cpu=True)) == "no"


def test_the_lesson_helpers_import_nothing_from_the_engine():
    for path in sorted((REPO_ROOT / "helpers").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                assert "pretraining" not in (node.module or ""), f"{path.name} imports {node.module}"
            if isinstance(node, ast.Import):
                assert not any("pretraining" in alias.name for alias in node.names), path.name
