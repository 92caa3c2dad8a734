"""Continue pre-training BERT (MLM + NSP as lesson 03, or MLM only) on any text file, with Hugging Face Accelerate.

The same data and losses as the lessons, outside the notebook: one GPU, several GPUs, or several machines, as
Accelerate's configuration says (`accelerate config`, or flags to `accelerate launch`).

  accelerate launch scripts/pretrain.py --text my_text.txt --output runs/my-bert             # one GPU (or the CPU)
  accelerate launch scripts/pretrain.py --text my_text.txt --output runs/my-bert --objective mlm   # MLM only
  accelerate launch --multi_gpu --num_processes 4 scripts/pretrain.py --text my_text.txt \\
      --output runs/my-bert --tokens-per-batch 16384 --workers 2                               # four GPUs
  accelerate launch --multi_gpu --num_processes 2 scripts/pretrain.py --cpu ...                # two CPU processes
  accelerate launch scripts/pretrain.py --text my_text.txt --output runs/my-bert --resume       # go on after a stop
  python scripts/pretrain.py --text my_text.txt --output runs/my-bert --dry-run                 # check, plan, stop

The output folder receives: checkpoints/step-N/ (at the end of each epoch and every --checkpoint-every steps,
written atomically: a stop mid-save leaves no half checkpoint), log.jsonl (strict JSON, one line per --log-every
steps and per event, each with the run id), and model/ (the final model and tokenizer, ready for from_pretrained
or pipeline("fill-mask")). A resumed run takes exactly the steps the uninterrupted run would have taken.
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
