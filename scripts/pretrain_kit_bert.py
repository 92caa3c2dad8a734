"""Pre-train the kit's own small BERT (MLM + NSP) on Jane Austen's novels: the model quick mode starts from.

Quick mode must show *continued* pre-training: a model that already knows English adapting to Meditations. This
recipe makes it from public-domain English that is not Meditations (data/austen.txt), with a WordPiece vocabulary
trained on that text alone, and exports it with a model card. Its other options are scripts/pretrain.py's (the
same engine, helpers/pretraining); this file adds the tokenizer, the untrained model, the defaults and the card.

  python scripts/pretrain_kit_bert.py                          # train (CPU or GPU); run again after a stop: resumes
  python scripts/pretrain_kit_bert.py --export data/kit_bert   # train (or finish) and write the committed files
"""
from __future__ import annotations

import json
import platform
from pathlib import Path

import torch
from transformers import BertConfig, BertForPreTraining

from helpers import DATA_DIR, MEDITATIONS
from helpers.corpus import read_paragraphs
from helpers.data import MLMCollator, PretrainingCollator, encode_paragraphs, fixed_batches, pair_room
from helpers.evaluation import evaluate
from helpers.models import quiet_transformers, train_wordpiece_tokenizer
from helpers.nsp import encode_segment_pairs, make_segment_pairs, sentence_stream
from helpers.pretraining import ConfigError, Finished, RunError, build_parser, config_from, pretrain
from helpers.pretraining.files import file_sha256

# ~1,500 steps on 32-token pairs, then ~1,500 on 128: a small BERT that starts on long pairs guesses from the bag of
# words around a [MASK] for thousands of steps; on short ones it learns to look at the neighbours within a few hundred.
RECIPE = {"text": DATA_DIR / "austen.txt", "output": Path("runs/kit_bert"), "short_epochs": 9, "short_length": 32,
          "epochs": 5, "max_length": 128, "batch_size": 32, "lr": 1e-3, "warmup_fraction": 0.1,
          "held_out_fraction": 0.02, "checkpoint_every": 250}
ARCHITECTURE = {"vocab_size": 8000, "layers": 4, "hidden": 192, "heads": 3}


def build_kit_parser():
    """Return scripts/pretrain.py's options with the recipe's defaults (MLM + NSP, no --model) and the model's."""
    parser = build_parser("pretrain_kit_bert.py", __doc__.split("\n\n")[0], __doc__.split("\n\n", 1)[1],
                          omit=("model", "objective"), **RECIPE)
    parser.add_argument("--export", type=Path, help="write the final model, tokenizer and model card here")
    for name, default in ARCHITECTURE.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=default, help=f"default {default}")
    return parser


def initial_model(folder: Path, args) -> Path:
    """Return `folder` with the untrained model and a new tokenizer, made once: WordPiece training is not deterministic
    (other ids each time), so a resumed run must reuse them; the engine's checkpoints check the tokenizer's hash."""
    if not (folder / "config.json").exists():
        tokenizer = train_wordpiece_tokenizer(args.text, args.vocab_size)
        torch.manual_seed(args.seed)
        config = BertConfig(vocab_size=len(tokenizer), hidden_size=args.hidden, num_hidden_layers=args.layers,
                            num_attention_heads=args.heads, intermediate_size=4 * args.hidden,
                            max_position_embeddings=512, pad_token_id=tokenizer.pad_token_id)
        with quiet_transformers():
            BertForPreTraining(config).save_pretrained(folder)
            tokenizer.save_pretrained(folder)
    return folder


def meditations_sets(tokenizer, max_length: int) -> dict[str, list[dict]]:
    """Return fixed, seeded held-out batches of Meditations, a text the model never trains on: MLM and NSP."""
    paragraphs = read_paragraphs(MEDITATIONS)
    pairs, _ = make_segment_pairs(sentence_stream(paragraphs, tokenizer), max_tokens=pair_room(max_length), seed=7)
    chunks, pairs = encode_paragraphs(paragraphs, tokenizer, max_length), encode_segment_pairs(pairs, tokenizer)
    return {"meditations_mlm": fixed_batches(chunks, MLMCollator(tokenizer, seed=2), 64),
            "meditations_nsp": fixed_batches(pairs, PretrainingCollator(tokenizer, seed=3), 64)}


def export(finished: Finished, args, config) -> None:
    """Write fp16 safetensors, the tokenizer and the model card (card.json) to `args.export`."""
    out, model = args.export, finished.model.eval()
    out.mkdir(parents=True, exist_ok=True)
    scores = {"austen": finished.scores} | {name: evaluate(model, batches) for name, batches
                                            in meditations_sets(finished.tokenizer, config.max_length).items()}
    with quiet_transformers():
        model.to(torch.float16).save_pretrained(out)
        finished.tokenizer.save_pretrained(out)
    steps = {r["step"]: r for r in map(json.loads, (config.output / "log.jsonl").read_text().splitlines())
             if "event" not in r}  # a resumed run's line replaces the stopped run's
    last = [r for s, r in steps.items() if s > max(steps) - 100]
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU, {torch.get_num_threads()} threads"
    card = {
        "corpus": f"{config.text.name}: Jane Austen's six novels, public domain (see data/README.md)",
        "licence": "model weights: MIT, like the kit; training text: public domain",
        "config": {k: getattr(model.config, k) for k in ("vocab_size", "hidden_size", "num_hidden_layers",
                                                          "num_attention_heads", "intermediate_size",
                                                          "max_position_embeddings")},
        "parameters": sum(p.numel() for p in model.parameters()),
        "training": {**{k: getattr(config, k) for k in ("short_epochs", "short_length", "epochs", "max_length",
                                                         "batch_size", "lr", "warmup_fraction", "seed")},
                     "steps": max(steps), "real_tokens": sum(r["tokens"] for r in steps.values()),
                     "seconds": round(sum(r["seconds"] for r in steps.values())),
                     "hardware": f"{platform.processor() or platform.machine()}, {device}",
                     "final_losses": {k: round(sum(r[k] for r in last) / len(last), 4) for k in ("mlm", "nsp")}},
        "held_out": {name: {k: round(v, 4) for k, v in s.items()} for name, s in scores.items()},
        "files": {f.name: file_sha256(f) for f in sorted(out.iterdir()) if f.name not in ("card.json", "README.md")},
    }
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(card["held_out"]))


def main(argv: list[str] | None = None) -> None:
    parser = build_kit_parser()
    args = parser.parse_args(argv)
    try:
        config_from(args).check()  # before a tokenizer is trained
        config = config_from(args, model=str(initial_model(args.output / "initial", args)), resume=True)
        finished = pretrain(config)  # run again to go on: the recipe always resumes
    except (ConfigError, RunError) as exc:  # one line naming the option or the file, no traceback
        parser.exit(2 if isinstance(exc, ConfigError) else 1, f"pretrain_kit_bert.py: {exc}\n")
    if args.export and isinstance(finished, Finished):  # not a dry run's plan
        export(finished, args, config)


if __name__ == "__main__":
    main()
