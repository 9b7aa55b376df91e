"""The network of a pair encoder: MiniLM with LoRA, mean-pooled, and a linear head.

Imported only when a pair encoder is trained or first used (it needs torch). all-MiniLM-L6-v2 was
trained to be read by mean pooling over tokens, not through its [CLS] pooler: a linear probe on
the mean-pooled states of (message, reply) pairs separated the crisis items far better than one on
the pooler (AUC 0.79-0.97 against 0.71-0.96 on the tune split), and fine-tuning through the pooler
did not learn the rare items at all. So the head reads the masked mean of the last hidden states.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from harness.scoring._pair_encoder import HEAD_WEIGHTS

# LoRA goes into the attention and feed-forward projections of the six encoder layers, not the
# unused [CLS] pooler.
LORA_TARGETS = r".*encoder\.layer\.\d+\..*\.(query|key|value|dense)$"


class MeanPooledClassifier(nn.Module):
    def __init__(self, encoder: nn.Module, hidden_size: int, num_outputs: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, num_outputs)

    def forward(self, input_ids: Any, token_type_ids: Any, attention_mask: Any) -> Any:
        hidden = self.encoder(
            input_ids=input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask
        ).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return self.head(self.dropout(pooled))


def base_encoder(model_dir: Path) -> Any:
    from transformers import BertModel

    return BertModel.from_pretrained(model_dir, add_pooling_layer=False)


def save_head(model: MeanPooledClassifier, directory: Path) -> None:
    from safetensors.torch import save_file

    save_file(
        {name: tensor.detach().contiguous() for name, tensor in model.head.state_dict().items()},
        directory / HEAD_WEIGHTS,
    )


def load_pair_model(model_dir: Path, artifact_dir: Path, num_outputs: int) -> MeanPooledClassifier:
    """Base MiniLM + the artifact's LoRA (merged, so scoring pays nothing for it) + its head."""
    from peft import PeftModel
    from safetensors.torch import load_file

    encoder = PeftModel.from_pretrained(base_encoder(model_dir), artifact_dir).merge_and_unload()
    model = MeanPooledClassifier(encoder, encoder.config.hidden_size, num_outputs)
    model.head.load_state_dict(load_file(artifact_dir / HEAD_WEIGHTS))
    model.eval()
    return model
