"""Time how long the widgets' HTML takes to re-render a 512-token paragraph (goal: well under 50 ms).

Run: KIT_QUICK=1 python benchmarks/render_speed.py [--repeats N]. The last line printed is JSON.
"""

import argparse
import json
import statistics
import time

from helpers import MEDITATIONS
from helpers.corpus import read_paragraphs
from helpers.masking import mask_tokens
from helpers.models import load_tokenizer
from helpers.widgets import render_masked_tokens, render_sentence_pair


def millis(fn, repeats: int) -> float:
    """Return the median wall time of `fn()` in milliseconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    tokenizer = load_tokenizer()
    text = " ".join(read_paragraphs(MEDITATIONS))
    enc = tokenizer(text, truncation=True, max_length=512, return_tensors="pt")
    ids = enc["input_ids"][0]
    pieces = tokenizer.tokenize(text)[:500]  # a pair of two 250-token segments, padded to 512
    pair = tokenizer(tokenizer.convert_tokens_to_string(pieces[:250]), tokenizer.convert_tokens_to_string(pieces[250:]),
                     padding="max_length", truncation=True, max_length=512)

    def mask_and_render() -> str:  # what the mask explorer does on each slider move
        masked, labels = mask_tokens(ids, tokenizer, 0.15, generator=0)
        return render_masked_tokens(ids, masked, labels, tokenizer)

    result = {
        "tokens": len(ids),
        "mask_and_render_ms": round(millis(mask_and_render, args.repeats), 2),
        "render_sentence_pair_ms": round(millis(lambda: render_sentence_pair(
            pair["input_ids"], pair["token_type_ids"], pair["attention_mask"], tokenizer, 0), args.repeats), 2),
        "goal_ms": 50,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
