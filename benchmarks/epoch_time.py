"""Time one epoch of MLM+NSP pre-training on Meditations: the original lessons' pipeline against the kit's.

original ("seed"): pairs from split('.') and a bag of all sentences, every pair padded to 512 tokens, masks drawn
                   once before training (static), labels = input_ids (loss over every position, padding included).
kit:               make_nsp_pairs, per-batch padding (optionally length-grouped batches), masks drawn per batch
                   (dynamic), labels -100 except at the masked positions.

Both train the same randomly initialised BertForPreTraining config (no download) with the same batch size and seed,
through the same loop (helpers.training.train: AdamW, clipping; mixed precision and fused AdamW on CUDA). Each
pipeline runs one untimed warm-up step, then `--batches` timed steps; the epoch time is the measured seconds per
position (padding included: the model computes it all) times the positions of the whole epoch, which are counted
exactly. Run:

    KIT_QUICK=1 python benchmarks/epoch_time.py --model base --batches 3

The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import random

import torch
from torch.utils.data import DataLoader
from transformers import BertConfig, BertForPreTraining

from helpers import MEDITATIONS
from helpers.corpus import read_paragraphs
from helpers.data import PretrainingCollator, make_loader, pad_fraction
from helpers.losses import pretraining_losses
from helpers.models import KIT_BERT, load_tokenizer
from helpers.nsp import encode_pairs, make_nsp_pairs
from helpers.training import pick_device, train

# "kit": the size of quick mode's small BERT (data/kit_bert/config.json), with its own vocabulary.
KIT_SIZE = {k: v for k, v in json.loads((KIT_BERT / "config.json").read_text()).items()
            if k in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")}
MODEL_SIZES = {
    "kit": KIT_SIZE,
    "small": dict(hidden_size=512, num_hidden_layers=4, num_attention_heads=8, intermediate_size=2048),
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
}
BERT_BASE_VOCAB = 30522  # small and base use bert-base-uncased's vocabulary size: its output layer is part of the cost


def original_batches(paragraphs: list[str], tokenizer, batch_size: int, seed: int) -> list[dict]:
    """Return the original lessons' batches: bag-of-sentences NSP pairs, padded to 512, masked once, labels = ids."""
    rng = random.Random(seed)
    bag = [s for p in paragraphs for s in p.split(".") if s != ""]
    sentence_a, sentence_b, label = [], [], []
    for paragraph in paragraphs:
        sentences = [s for s in paragraph.split(".") if s != ""]
        if len(sentences) > 1:
            start = rng.randint(0, len(sentences) - 2)
            sentence_a.append(sentences[start])
            if rng.random() >= 0.5:
                sentence_b.append(sentences[start + 1])
                label.append(0)
            else:
                sentence_b.append(rng.choice(bag))
                label.append(1)
    inputs = tokenizer(sentence_a, sentence_b, return_tensors="pt", max_length=512, truncation=True,
                       padding="max_length")
    inputs["next_sentence_label"] = torch.LongTensor([label]).T
    inputs["labels"] = inputs["input_ids"].detach().clone()
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.rand(inputs["input_ids"].shape, generator=generator) < 0.15
    chosen &= ~torch.isin(inputs["input_ids"], torch.tensor(tokenizer.all_special_ids))
    inputs["input_ids"][chosen] = tokenizer.mask_token_id
    rows = [{k: v[i] for k, v in inputs.items()} for i in range(len(label))]
    return list(DataLoader(rows, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed)))


def kit_batches(paragraphs: list[str], tokenizer, batch_size: int, seed: int, group_by_length: bool) -> list[dict]:
    """Return the kit's batches for one epoch: clean NSP pairs, per-batch padding, dynamic masks, -100 labels."""
    features = encode_pairs(make_nsp_pairs(paragraphs, seed=seed), tokenizer, 512)
    collator = PretrainingCollator(tokenizer, 0.15, seed=seed)
    return list(make_loader(features, collator, batch_size, seed=seed, group_by_length=group_by_length))


def time_epoch(batches: list[dict], config: BertConfig, n_timed: int, seed: int, device: torch.device) -> dict:
    """Return measured seconds per position and the extrapolated seconds per epoch of training on `batches`."""
    torch.manual_seed(seed)
    model = BertForPreTraining(config)
    steps = batches[: n_timed + 1]
    history = train(model, steps, epochs=1, lr=1e-4, warmup_fraction=0.0, device=device, loss_fn=pretraining_losses)
    timed_seconds = history[-1]["seconds"] - history[0]["seconds"]  # step 1 is the warm-up
    timed_positions = sum(b["input_ids"].numel() for b in steps[1:])
    epoch_positions = sum(b["input_ids"].numel() for b in batches)
    real_tokens = sum(int(b["attention_mask"].sum()) for b in batches)
    per_position = timed_seconds / timed_positions
    return {"s_per_epoch": per_position * epoch_positions, "positions_per_s": 1 / per_position,
            "real_tokens_per_s": real_tokens / (per_position * epoch_positions), "batches": len(batches),
            "epoch_positions": epoch_positions, "pad_fraction": pad_fraction(batches)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODEL_SIZES), default="kit", help="BERT size, randomly initialised")
    parser.add_argument("--batches", type=int, default=3, help="timed batches per pipeline (after 1 warm-up batch)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--no-group-by-length", dest="group_by_length", action="store_false",
                        help="kit pipeline without length-grouped batches (per-batch padding only)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    tokenizer = load_tokenizer()
    paragraphs = read_paragraphs(MEDITATIONS)
    vocab_size = len(tokenizer) if args.model == "kit" else BERT_BASE_VOCAB
    config = BertConfig(vocab_size=vocab_size, **{"max_position_embeddings": 512, **MODEL_SIZES[args.model]})
    device = pick_device()
    seed = time_epoch(original_batches(paragraphs, tokenizer, args.batch_size, args.seed), config, args.batches,
                      args.seed, device)
    kit = time_epoch(kit_batches(paragraphs, tokenizer, args.batch_size, args.seed, args.group_by_length), config,
                     args.batches, args.seed, device)
    result = {
        "model": args.model, "device": str(device), "torch_threads": torch.get_num_threads(),
        "batch_size": args.batch_size, "timed_batches": args.batches, "group_by_length": args.group_by_length,
        "seed_s_per_epoch": round(seed["s_per_epoch"], 1), "kit_s_per_epoch": round(kit["s_per_epoch"], 1),
        "speedup": round(seed["s_per_epoch"] / kit["s_per_epoch"], 2),
        "seed_pad_fraction": round(seed["pad_fraction"], 3), "kit_pad_fraction": round(kit["pad_fraction"], 3),
        "seed_positions_per_s": round(seed["positions_per_s"]), "kit_positions_per_s": round(kit["positions_per_s"]),
        "seed_real_tokens_per_s": round(seed["real_tokens_per_s"]),
        "kit_real_tokens_per_s": round(kit["real_tokens_per_s"]),
        "seed_batches_per_epoch": seed["batches"], "kit_batches_per_epoch": kit["batches"],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
