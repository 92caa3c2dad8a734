"""Continue pre-training BERT (MLM + NSP as lesson 03, or MLM only) on any text file, with Hugging Face Accelerate.

The same data and losses as the lessons, outside the notebook: the CPU, one GPU, several GPUs or machines.

  python scripts/pretrain.py --text my_text.txt --output runs/my-bert --dry-run                 # check, plan, time
  python scripts/pretrain.py --text my_text.txt --output runs/my-bert                           # the CPU or one GPU
  python scripts/pretrain.py --text my_text.txt --output runs/my-bert --objective mlm           # MLM only
  python scripts/pretrain.py --text my_text.txt --output runs/my-bert --resume                  # go on after a stop
  python scripts/pretrain.py --text control.txt --output runs/control --tokens 240000           # a matched budget
  accelerate launch --multi_gpu --num_processes 4 --num_machines 1 --mixed_precision no --dynamo_backend no \
      scripts/pretrain.py --text my_text.txt --output runs/my-bert --tokens-per-batch 16384 --workers 2   # 4 GPUs
  accelerate launch --multi_gpu --num_processes 2 ... scripts/pretrain.py --cpu ...             # two CPU processes

Defaults that train the model given: --max-length and --lr come from the model's card.json where it has one (the
kit's small BERT: 128 tokens, 5e-4), else 512 and 5e-5; the line "settings for ..." says which. The budget is
--epochs passes, or --max-steps steps, or --tokens real tokens (padding not counted: what a control run must
match); KIT_MAX_STEPS caps the steps as in the lessons. A --dry-run prints the plan (steps, real tokens) and the
time, measured on a few steps, then stops with nothing saved. The held-out MLM score is printed before and after
training, with intervals, and a warning comes when the training loss hardly moved.
With `accelerate launch`, --mixed_precision no and --dynamo_backend no only quiet Accelerate's warning about
values not passed: this script's --mixed-precision and --compile decide (one process needs no launcher at all).

The output folder receives: checkpoints/step-N/ (at the end of each epoch and every --checkpoint-every steps,
written atomically: a stop mid-save leaves no half checkpoint), log.jsonl (strict JSON, one line per --log-every
steps and per event, each with the run id), and model/ (the final model and tokenizer, ready for from_pretrained
or pipeline("fill-mask"), with card.json: how it was trained, the held-out scores before and after). A resumed
run takes exactly the steps the uninterrupted run would have taken.
The work is done by helpers/pretraining (pretrain(config)); this file is its command line.
"""

from __future__ import annotations

import sys

from helpers.pretraining import ConfigError, RunError, build_parser, config_from, pretrain


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run; a problem ends the run with one line naming the option or the file."""
    parser = build_parser("pretrain.py", __doc__.split("\n\n")[0], __doc__.split("\n\n", 1)[1])
    try:
        pretrain(config_from(parser.parse_args(argv)))
    except ConfigError as exc:
        parser.error(str(exc))
    except RunError as exc:
        sys.exit(f"pretrain.py: {exc}")


if __name__ == "__main__":
    main()
