"""Continue pre-training BERT (MLM + NSP, as lesson 03) on any text file, with Hugging Face Accelerate.

The same data and losses as the lessons (helpers/), outside the notebook: one GPU, several GPUs, or several
machines, as Accelerate's configuration says (`accelerate config`, or flags to `accelerate launch`).

  accelerate launch scripts/pretrain.py --text my_text.txt --output runs/my-bert             # one GPU (or the CPU)
  accelerate launch --multi_gpu --num_processes 4 scripts/pretrain.py --text my_text.txt \\
      --output runs/my-bert --mixed-precision bf16                                             # four GPUs
  accelerate launch --multi_gpu --num_processes 2 scripts/pretrain.py --cpu ...                # two CPU processes
  accelerate launch scripts/pretrain.py --text my_text.txt --output runs/my-bert --resume       # go on after a stop

The output folder receives: checkpoints/epoch-N/ (written at the end of each epoch, atomically: a stop mid-save
leaves no half checkpoint), log.jsonl (one line per optimizer step, plus events), and model/ (the final model and
tokenizer, ready for from_pretrained or pipeline("fill-mask")).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from transformers import get_linear_schedule_with_warmup

from helpers.corpus import CorpusError, read_paragraphs
from helpers.data import PretrainingCollator, fixed_batches, make_loader
from helpers.models import DEFAULT_MODEL, load_model
from helpers.nsp import encode_pairs, split_nsp_pairs
from helpers.training import evaluate, make_optimizer, pretraining_losses

CHECKPOINTS = "checkpoints"


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser; every option carries its help text."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--text", type=Path, required=True,
                        help="UTF-8 text file: one paragraph per line, or paragraphs separated by blank lines")
    parser.add_argument("--output", type=Path, required=True, help="folder for checkpoints, log.jsonl and model/")
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help="Hub name or local folder to start from (quick mode, KIT_QUICK=1: the tiny local BERT)")
    parser.add_argument("--epochs", type=int, default=3, help="passes over the training pairs (default 3)")
    parser.add_argument("--batch-size", type=int, default=16, help="pairs per batch on each process (default 16)")
    parser.add_argument("--gradient-accumulation", type=int, default=1, metavar="K",
                        help="add up the gradients of K batches before each optimizer step (default 1)")
    parser.add_argument("--lr", type=float, default=5e-5, help="peak learning rate of AdamW (default 5e-5)")
    parser.add_argument("--warmup-fraction", type=float, default=0.1, help="share of steps warming up (default 0.1)")
    parser.add_argument("--max-length", type=int, default=512, help="tokens per pair, special tokens included")
    parser.add_argument("--mask-rate", type=float, default=0.15, help="share of tokens masked for MLM (default 0.15)")
    parser.add_argument("--pairs-per-paragraph", type=int, default=3, help="NSP pairs drawn per paragraph")
    parser.add_argument("--held-out-fraction", type=float, default=0.1, help="paragraphs kept aside for evaluation")
    parser.add_argument("--mixed-precision", choices=["no", "fp16", "bf16"], default=None,
                        help="overrides Accelerate's config (bf16 on recent GPUs; fp16 uses a loss scaler)")
    parser.add_argument("--cpu", action="store_true", help="train on the CPU even where there is a GPU")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --output")
    parser.add_argument("--seed", type=int, default=0, help="seed of pairs, masks, batches and weights")
    parser.add_argument("--record-examples", action="store_true",
                        help="write which examples each process trained on to examples-rank-N.json (for tests)")
    return parser


def latest_checkpoint(output: Path) -> Path | None:
    """Return the newest complete checkpoint folder (one with progress.json), or None."""
    done = [p for p in (output / CHECKPOINTS).glob("epoch-*") if (p / "progress.json").exists()]
    return max(done, key=lambda p: int(p.name.split("-")[1]), default=None)


def save_checkpoint(accelerator: Accelerator, output: Path, epoch: int, step: int) -> Path:
    """Save the training state (model, optimizer, scheduler, RNGs) as checkpoints/epoch-N, atomically."""
    final = output / CHECKPOINTS / f"epoch-{epoch}"
    staging = output / CHECKPOINTS / f".epoch-{epoch}.partial"
    if accelerator.is_main_process:
        shutil.rmtree(staging, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(staging))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (staging / "progress.json").write_text(json.dumps({"epoch": epoch, "step": step}))
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)  # the checkpoint appears whole, or not at all
    accelerator.wait_for_everyone()
    return final


def log(accelerator: Accelerator, output: Path, record: dict) -> None:
    """Append one JSON line to output/log.jsonl (main process only)."""
    if accelerator.is_main_process:
        with open(output / "log.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    accelerator = Accelerator(gradient_accumulation_steps=args.gradient_accumulation,
                              mixed_precision=args.mixed_precision, cpu=args.cpu)
    set_seed(args.seed)
    try:
        train_pairs, held_out_pairs, _ = split_nsp_pairs(read_paragraphs(args.text), seed=args.seed,
                                                          pairs_per_paragraph=args.pairs_per_paragraph,
                                                          held_out_fraction=args.held_out_fraction)
    except (OSError, CorpusError, ValueError) as exc:
        sys.exit(f"pretrain.py: {args.text}: {exc}")
    args.output.mkdir(parents=True, exist_ok=True)

    tokenizer, model = load_model("pretraining", args.model, verbose=accelerator.is_main_process)
    features = encode_pairs(train_pairs, tokenizer, args.max_length)
    for i, feature in enumerate(features):
        feature["example_id"] = i
    collator = PretrainingCollator(tokenizer, args.mask_rate, seed=args.seed)

    def collate(batch: list[dict]) -> dict[str, torch.Tensor]:
        out = collator(batch)
        out["example_id"] = torch.tensor([f["example_id"] for f in batch])
        return out

    loader = make_loader(features, collate, args.batch_size, seed=args.seed, group_by_length=True)
    sampler = loader.batch_sampler
    updates_per_epoch = math.ceil(len(loader) / args.gradient_accumulation)
    model.to(accelerator.device)
    optimizer = make_optimizer(model, args.lr)
    total = args.epochs * updates_per_epoch
    scheduler = get_linear_schedule_with_warmup(optimizer, int(args.warmup_fraction * total), total)
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)

    start_epoch, step = 0, 0
    if args.resume:
        checkpoint = latest_checkpoint(args.output)
        if checkpoint is None:
            accelerator.print(f"--resume: no checkpoint in {args.output / CHECKPOINTS}; starting from the beginning")
        else:
            accelerator.load_state(str(checkpoint))
            progress = json.loads((checkpoint / "progress.json").read_text())
            start_epoch, step = progress["epoch"], progress["step"]
            accelerator.print(f"resumed from {checkpoint} (epoch {start_epoch}, step {step})")
            log(accelerator, args.output, {"event": "resumed", "epoch": start_epoch, "step": step})

    seen: list[int] = []
    for epoch in range(start_epoch, args.epochs):
        model.train()
        sampler.set_epoch(epoch)
        # Masks depend on (seed, epoch, process) only, so a resumed epoch masks as the interrupted one would have.
        collator.generator.manual_seed(args.seed * 1_000_003 + epoch * 1_009 + accelerator.process_index)
        for batch in loader:
            seen += batch.pop("example_id").tolist()
            with accelerator.accumulate(model):
                losses = pretraining_losses(model(**batch), batch)
                accelerator.backward(losses["loss"])
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            if accelerator.sync_gradients:
                step += 1
                log(accelerator, args.output, {"epoch": epoch + 1, "step": step, "lr": scheduler.get_last_lr()[0],
                                               **{k: round(v.item(), 5) for k, v in losses.items()}})
        save_checkpoint(accelerator, args.output, epoch + 1, step)
        accelerator.print(f"epoch {epoch + 1}/{args.epochs} done at step {step}; loss {losses['loss'].item():.3f}")
    if args.record_examples:
        (args.output / f"examples-rank-{accelerator.process_index}.json").write_text(json.dumps(seen))

    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        final = accelerator.unwrap_model(model)
        eval_batches = fixed_batches(encode_pairs(held_out_pairs, tokenizer, args.max_length),
                                     PretrainingCollator(tokenizer, args.mask_rate, seed=args.seed + 1), args.batch_size)
        scores = evaluate(final, eval_batches)
        log(accelerator, args.output, {"event": "held_out", **scores})
        print("held-out:", {k: round(v, 4) for k, v in scores.items()})
        staging = args.output / ".model.partial"
        shutil.rmtree(staging, ignore_errors=True)
        final.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        shutil.rmtree(args.output / "model", ignore_errors=True)
        staging.rename(args.output / "model")
        print(f"saved the model to {args.output / 'model'}")
    accelerator.end_training()


if __name__ == "__main__":
    main()
