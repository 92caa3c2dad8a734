"""Train the quick-mode tiny BERT's WordPiece vocabulary on data/meditations.txt and write data/tiny_bert_vocab.txt.

Run: python scripts/train_tiny_vocab.py   (the result is committed; see TINY_VOCAB in helpers/models.py for why)
"""

from helpers import MEDITATIONS
from helpers.models import TINY_VOCAB, train_wordpiece_tokenizer

if __name__ == "__main__":
    tokenizer = train_wordpiece_tokenizer(MEDITATIONS)
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    TINY_VOCAB.write_text("".join(token + "\n" for token, _ in vocab), encoding="utf-8")
    print(f"wrote {len(vocab)} tokens to {TINY_VOCAB}")
