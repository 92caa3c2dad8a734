"""scripts/pretrain.py for the tests, with two additions made by patching the engine (so that the script itself
keeps only the options a user needs):

  --stop-after N   stop after N optimizer steps in all, as a crash would (no extra checkpoint, no final model)
  examples-rank-R.json in --output: which examples process R trained on, epoch by epoch

  python tests/pretrain_until.py --stop-after 7 --text ... --output ...   (or under accelerate launch)
"""

import json
import sys
from pathlib import Path

from helpers import REPO_ROOT
from helpers.pretraining import loop

sys.path.insert(0, str(REPO_ROOT / "scripts"))
import pretrain  # noqa: E402  (scripts/pretrain.py)


def main(argv: list[str]) -> None:
    stop_after = None
    if "--stop-after" in argv:
        at = argv.index("--stop-after")
        stop_after = int(argv[at + 1])
        del argv[at:at + 2]
    output = Path(argv[argv.index("--output") + 1])
    schedulers, seen, rank = [], {}, [0]
    make_schedule, epoch_loader = loop.get_linear_schedule_with_warmup, loop.epoch_loader

    def record() -> None:
        (output / f"examples-rank-{rank[0]}.json").write_text(json.dumps(seen))

    def capture_schedule(*args, **kwargs):
        schedulers.append(make_schedule(*args, **kwargs))
        return schedulers[-1]

    def watched_loader(config, phase, accelerator, epoch, start, collator):
        loader, mine = epoch_loader(config, phase, accelerator, epoch, start, collator)
        rank[0] = accelerator.process_index
        seen.setdefault(epoch, []).extend(i for batch in mine for i in batch)

        def batches():
            for batch in loader:  # the next batch is asked for once the last step is done, its checkpoint saved
                if stop_after is not None and schedulers[0].last_epoch >= stop_after:  # last_epoch: steps taken
                    print(f"--stop-after {stop_after}: stopped at step {schedulers[0].last_epoch}")
                    record()
                    accelerator.wait_for_everyone()  # stop together; pretrain() then leaves the process group
                    sys.exit(0)
                yield batch

        return batches(), mine

    loop.get_linear_schedule_with_warmup, loop.epoch_loader = capture_schedule, watched_loader
    pretrain.main(argv)
    record()


if __name__ == "__main__":
    main(sys.argv[1:])
