"""The losses the lessons train on: the model gets only its inputs, a loss function scores its outputs.

Adds to helpers.masking and helpers.data (which make the labels): MLM and NSP cross-entropy, read from whichever
head a model has (BertForMaskedLM, BertForNextSentencePrediction, BertForPreTraining), and the faster MLM loss
that runs the vocabulary head only where a token was masked. `helpers.training.train` takes one of them as
`loss_fn`; `helpers.evaluation` scores held-out text with the same ones.
"""

from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F

from .data import MODEL_INPUTS
from .masking import IGNORE_INDEX


def mlm_loss(prediction_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Return the mean cross-entropy over the positions whose label is not -100 (0, not NaN, if there are none)."""
    labels = labels.reshape(-1)
    total = F.cross_entropy(prediction_logits.reshape(-1, prediction_logits.size(-1)).float(), labels,
                            ignore_index=IGNORE_INDEX, reduction="sum")
    # Dividing by at least 1 keeps a batch in which no token happened to be masked from making the loss NaN.
    return total / (labels != IGNORE_INDEX).sum().clamp(min=1)


def nsp_loss(seq_relationship_logits: torch.Tensor, next_sentence_label: torch.Tensor) -> torch.Tensor:
    """Return the mean cross-entropy of the IsNext/NotNext classifier."""
    return F.cross_entropy(seq_relationship_logits.reshape(-1, 2).float(), next_sentence_label.reshape(-1))


def mlm_logits(outputs) -> torch.Tensor:
    """Return the MLM head's logits, from BertForPreTraining (prediction_logits) or BertForMaskedLM (logits)."""
    return outputs.prediction_logits if hasattr(outputs, "prediction_logits") else outputs.logits


def nsp_logits(outputs) -> torch.Tensor:
    """Return the NSP head's logits, from BertForPreTraining or BertForNextSentencePrediction."""
    return outputs.seq_relationship_logits if hasattr(outputs, "seq_relationship_logits") else outputs.logits


def model_inputs(batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Return what the model reads (input_ids, token_type_ids, attention_mask): the labels stay with the loss."""
    return {k: batch[k] for k in MODEL_INPUTS if k in batch}


def mlm_losses(outputs, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Return the MLM loss of BertForMaskedLM or BertForPreTraining on the batch's `labels`: {'loss', 'mlm'}.

    The same number the model computes itself when it is given `labels` (train's default loss function).
    """
    mlm = mlm_loss(mlm_logits(outputs), batch["labels"])
    return {"loss": mlm, "mlm": mlm}


def nsp_losses(outputs, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Return the NSP loss of BertForNextSentencePrediction or BertForPreTraining: {'loss', 'nsp'}.

    The pair labels come from the batch's `next_sentence_label`; the model itself never sees them.
    """
    nsp = nsp_loss(nsp_logits(outputs), batch["next_sentence_label"])
    return {"loss": nsp, "nsp": nsp}


def pretraining_losses(outputs, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Return BertForPreTraining's loss and its two parts: {'loss', 'mlm', 'nsp'}."""
    mlm = mlm_loss(outputs.prediction_logits, batch["labels"])
    nsp = nsp_loss(outputs.seq_relationship_logits, batch["next_sentence_label"])
    return {"loss": mlm + nsp, "mlm": mlm, "nsp": nsp}


def masked_pretraining_losses(model: torch.nn.Module, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Return {'loss', 'mlm', 'nsp'} of a BertForPreTraining, its MLM head run only at the masked positions.

    The MLM head turns a vector into one score per vocabulary entry: the largest matrix product in a small BERT.
    Only the ~15% masked positions are graded, so computing the other 85% would be wasted work (BERT's own
    code gathers the masked positions first too). The losses are the same as `pretraining_losses`. A batch
    without `next_sentence_label` (MLM-only training, a BertForMaskedLM too) gives {'loss', 'mlm'}.
    """
    outputs = model.bert(**model_inputs(batch))
    chosen = batch["labels"] != IGNORE_INDEX
    mlm = mlm_loss(model.cls.predictions(outputs[0][chosen]), batch["labels"][chosen])
    if "next_sentence_label" not in batch:
        return {"loss": mlm, "mlm": mlm}
    nsp = nsp_loss(model.cls.seq_relationship(outputs[1]), batch["next_sentence_label"])
    return {"loss": mlm + nsp, "mlm": mlm, "nsp": nsp}
