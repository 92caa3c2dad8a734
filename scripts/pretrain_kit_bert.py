"""Pre-train the kit's own small BERT (MLM + NSP) on Jane Austen's novels: the model quick mode starts from.

Quick mode must show *continued* pre-training: a model that already knows English adapting to Meditations.
This script makes that model from public-domain English that is not Meditations (data/austen.txt), with a
WordPiece vocabulary trained on that text alone, and exports it to data/kit_bert/ with a model card.

  python scripts/pretrain_kit_bert.py                          # train (CPU or GPU), checkpoints in runs/kit_bert
  python scripts/pretrain_kit_bert.py                          # run again after a stop: resumes exactly
  python scripts/pretrain_kit_bert.py --export data/kit_bert   # evaluate and write the committed files

The defaults are the recipe of the committed model (data/kit_bert/card.json: 42 minutes on two CPU threads).

Two phases, as BERT itself was trained (short sequences first, long ones last): the first --short-steps steps
see --short-length-token pairs, as many tokens per batch as the later --max-length ones. A small BERT that starts
on 128-token pairs stays for thousands of steps on a plateau where it guesses from the bag of words around a
[MASK] and never learns which word stands *next* to it; on short pairs the neighbours weigh more and it learns
that within a few hundred steps.

Seeded: the batches, the masks and the dropout of step N depend only on (--seed, N), so a resumed run takes
the same steps as an uninterrupted one.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import BertConfig, BertForPreTraining, BertTokenizerFast, get_linear_schedule_with_warmup

from helpers import DATA_DIR, MEDITATIONS
from helpers.corpus import read_paragraphs, split_held_out
from helpers.data import MLMCollator, PretrainingCollator, encode_paragraphs, fixed_batches
from helpers.models import quiet_transformers, train_wordpiece_tokenizer
from helpers.checkpoints import file_sha256
from helpers.nsp import encode_segment_pairs, make_segment_pairs, sentence_stream
from helpers.prepare import tokenizer_fingerprint
from helpers.training import evaluate, make_optimizer, masked_pretraining_losses, pick_device

AUSTEN = DATA_DIR / "austen.txt"


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--text", type=Path, default=AUSTEN, help="training text (default data/austen.txt)")
    p.add_argument("--work", type=Path, default=Path("runs/kit_bert"), help="checkpoints and log (default runs/kit_bert)")
    p.add_argument("--export", type=Path, help="write the final model, tokenizer and model card here")
    p.add_argument("--steps", type=int, default=3000, help="optimizer steps in all")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup-steps", type=int, default=300)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--short-steps", type=int, default=1500, help="steps on short pairs first (default 1500)")
    p.add_argument("--short-length", type=int, default=32, help="tokens per pair in the short phase (default 32)")
    p.add_argument("--vocab-size", type=int, default=8000)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--hidden", type=int, default=192)
    p.add_argument("--heads", type=int, default=3)
    p.add_argument("--checkpoint-every", type=int, default=250)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)")
    return p


def load_or_train_tokenizer(work: Path, text: Path, vocab_size: int) -> BertTokenizerFast:
    """Return the tokenizer saved in `work`, training it on `text` the first time.

    The WordPiece trainer is not deterministic (two runs give different ids), so a resumed run must reuse the saved
    tokenizer, never retrain it: the checkpoint records the tokenizer's fingerprint and resuming checks it.
    """
    folder = work / "tokenizer"
    if not (folder / "tokenizer.json").exists():  # transformers 5 saves tokenizer.json, no vocab.txt
        tokenizer = train_wordpiece_tokenizer(text, vocab_size)
        tokenizer.save_pretrained(folder)
    return BertTokenizerFast.from_pretrained(folder)


class Passes:
    """The training batches, pass after pass over the text; a pass's pairs depend only on (seed, pass number)."""

    def __init__(self, stream, tokenizer, max_length: int, batch_size: int, seed: int):
        self.stream, self.tokenizer = stream, tokenizer
        self.max_length, self.batch_size, self.seed = max_length, batch_size, seed
        self.number, self.first_index, self.features = -1, 0, []

    def _next_pass(self) -> None:
        self.first_index += len(self.features) // self.batch_size
        self.number += 1
        # New cut points and new NotNext partners every pass, as BERT's data duplication did.
        pairs, _ = make_segment_pairs(self.stream, max_tokens=self.max_length - 3, seed=self.seed * 1000 + self.number)
        random.Random(f"{self.seed}:{self.number}").shuffle(pairs)
        self.features = encode_segment_pairs(pairs, self.tokenizer)

    def batch(self, index: int, mask_seed: int) -> dict:
        """Return batch number `index` of this phase (indices only go forward), masked with `mask_seed`."""
        while index >= self.first_index + len(self.features) // self.batch_size:
            self._next_pass()
        start = (index - self.first_index) * self.batch_size
        return PretrainingCollator(self.tokenizer, seed=mask_seed)(self.features[start:start + self.batch_size])


def batches(stream, tokenizer, args):
    """Return step -> batch: short pairs for the first --short-steps steps (same tokens per batch), then long ones."""
    short = Passes(stream, tokenizer, args.short_length, args.batch_size * args.max_length // args.short_length, args.seed)
    long = Passes(stream, tokenizer, args.max_length, args.batch_size, args.seed)

    def batch(step: int) -> dict:
        mask_seed = args.seed * 1_000_003 + step
        if step < args.short_steps:
            return short.batch(step, mask_seed)
        return long.batch(step - args.short_steps, mask_seed)

    return batch


def save_checkpoint(work: Path, model, optimizer, scheduler, step: int, tokenizer: str) -> None:
    """Write model, optimizer and schedule state atomically (a stop mid-write leaves the old checkpoint)."""
    tmp = work / "checkpoint.pt.tmp"
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "step": step, "tokenizer": tokenizer}, tmp)
    tmp.replace(work / "checkpoint.pt")


def held_out_sets(tokenizer, paragraphs_held_out: list[str], args) -> dict[str, list[dict]]:
    """Return fixed, seeded evaluation batches: Austen held-out MLM+NSP, Meditations MLM and NSP."""
    sets = {}
    stream = sentence_stream(paragraphs_held_out, tokenizer)
    pairs, _ = make_segment_pairs(stream, max_tokens=args.max_length - 3, seed=12345)
    sets["austen"] = fixed_batches(encode_segment_pairs(pairs, tokenizer), PretrainingCollator(tokenizer, seed=1), 64)
    meditations = read_paragraphs(MEDITATIONS)
    chunks = encode_paragraphs(meditations, tokenizer, args.max_length)
    sets["meditations_mlm"] = fixed_batches(chunks, MLMCollator(tokenizer, seed=2), 64)
    m_pairs, _ = make_segment_pairs(sentence_stream(meditations, tokenizer), max_tokens=args.max_length - 3, seed=7)
    sets["meditations_nsp"] = fixed_batches(encode_segment_pairs(m_pairs, tokenizer), PretrainingCollator(tokenizer, seed=3), 64)
    return sets


def export(model, tokenizer, args, log: list[dict], sets: dict, seconds: float, tokens: int) -> None:
    """Write fp16 safetensors, the tokenizer and the model card (card.json) to `args.export`."""
    out = args.export
    out.mkdir(parents=True, exist_ok=True)
    scores = {name: evaluate(model, batches) for name, batches in sets.items()}
    with quiet_transformers():
        model.to(torch.float16).save_pretrained(out)
        tokenizer.save_pretrained(out)
    model.float()
    card = {
        "corpus": f"{args.text.name}: Jane Austen's six novels, public domain (see data/README.md)",
        "licence": "model weights: MIT, like the kit; training text: public domain",
        "config": {k: getattr(model.config, k) for k in ("vocab_size", "hidden_size", "num_hidden_layers",
                                                          "num_attention_heads", "intermediate_size", "max_position_embeddings")},
        "parameters": sum(p.numel() for p in model.parameters()),
        "training": {"steps": args.steps, "batch_size": args.batch_size, "max_length": args.max_length,
                     "short_steps": args.short_steps, "short_length": args.short_length, "lr": args.lr,
                     "warmup_steps": args.warmup_steps, "seed": args.seed, "real_tokens": tokens,
                     "seconds": round(seconds), "hardware": f"{platform.processor() or platform.machine()}, "
                     f"{'CUDA ' + torch.cuda.get_device_name() if torch.cuda.is_available() else f'CPU, {torch.get_num_threads()} threads'}",
                     "final_losses": {k: round(sum(r[k] for r in log[-100:]) / len(log[-100:]), 4) for k in ("mlm", "nsp")}},
        "held_out": {name: {k: round(v, 4) for k, v in s.items()} for name, s in scores.items()},
        "files": {f.name: file_sha256(f) for f in sorted(out.iterdir()) if f.name not in ("card.json", "README.md")},
    }
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(card["held_out"]))


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.short_steps and not 8 <= args.short_length < args.max_length:
        raise SystemExit(f"--short-length must be at least 8 and below --max-length ({args.max_length}); "
                         f"got {args.short_length}")
    if args.threads:
        torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    tokenizer = load_or_train_tokenizer(args.work, args.text, args.vocab_size)
    fingerprint = tokenizer_fingerprint(tokenizer)  # what a checkpoint is tied to
    train_par, held_par = split_held_out(read_paragraphs(args.text), 0.02, seed=args.seed)
    stream = sentence_stream(train_par, tokenizer)
    batch_of = batches(stream, tokenizer, args)
    torch.manual_seed(args.seed)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=args.hidden, num_hidden_layers=args.layers,
                        num_attention_heads=args.heads, intermediate_size=4 * args.hidden,
                        max_position_embeddings=512, pad_token_id=tokenizer.pad_token_id)
    device = pick_device()
    model = BertForPreTraining(config).to(device)
    optimizer = make_optimizer(model, args.lr)
    scheduler = get_linear_schedule_with_warmup(optimizer, args.warmup_steps, args.steps)
    start, ckpt = 0, args.work / "checkpoint.pt"
    if ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=True)  # a file this script wrote
        if state.get("tokenizer") != fingerprint:
            raise SystemExit(f"{ckpt} was trained with another vocabulary than {args.work / 'tokenizer'}: "
                             "start a fresh --work folder")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start = state["step"]
        print(f"resuming at step {start}")
    log_path = args.work / "log.jsonl"
    log = [json.loads(line) for line in log_path.read_text().splitlines()] if log_path.exists() else []
    log = [r for r in log if r["step"] <= start]
    log_path.write_text("".join(json.dumps(r) + "\n" for r in log))
    model.train()
    began = time.perf_counter()
    with open(log_path, "a") as log_file, tqdm(total=args.steps, initial=start, desc="pre-training") as bar:
        for step in range(start, args.steps):
            batch = {k: v.to(device) for k, v in batch_of(step).items()}
            torch.manual_seed(args.seed * 7919 + step)  # dropout of this step
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                losses = masked_pretraining_losses(model, batch)
            optimizer.zero_grad(set_to_none=True)
            losses["loss"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            record = {"step": step + 1, "mlm": losses["mlm"].item(), "nsp": losses["nsp"].item(),
                      "tokens": int(batch["attention_mask"].sum()), "seconds": round(time.perf_counter() - began, 2)}
            log.append(record)
            log_file.write(json.dumps(record) + "\n")
            bar.update()
            bar.set_postfix(mlm=f"{record['mlm']:.2f}", nsp=f"{record['nsp']:.2f}")
            if (step + 1) % args.checkpoint_every == 0 or step + 1 == args.steps:
                log_file.flush()
                save_checkpoint(args.work, model, optimizer, scheduler, step + 1, fingerprint)
    if args.export:
        seconds = sum(r["seconds"] - p["seconds"] for p, r in zip(log, log[1:]) if r["seconds"] > p["seconds"])
        export(model.eval(), tokenizer, args, log, held_out_sets(tokenizer, held_par, args), seconds,
               sum(r["tokens"] for r in log))


if __name__ == "__main__":
    main()
