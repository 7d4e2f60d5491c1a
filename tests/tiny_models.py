"""Tiny Hugging Face checkpoints with random weights, built from configs and saved with
`save_pretrained`, so the tests load them through the same path users take.

- bert: a BertForMaskedLM with a WordPiece tokenizer (words of the tiny collection plus
  single characters, so any text tokenizes) and a uniCOIL head `tok_proj` in the weights;
- llama: a LlamaForCausalLM with a byte-level BPE tokenizer trained on the same text.
"""

from __future__ import annotations

import re
from pathlib import Path

from conftest import TINY

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _texts() -> list[str]:
    import json

    texts = []
    for name in ("corpus.jsonl", "queries.jsonl"):
        for line in (TINY / name).read_text().splitlines():
            record = json.loads(line)
            texts.append(f"{record.get('title', '')} {record['text']}")
    return texts


def build_bert(path: Path) -> Path:
    import torch
    from safetensors.torch import load_file, save_file
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertForMaskedLM, PreTrainedTokenizerFast

    words = sorted({w for text in _texts() for w in re.findall(r"[a-z0-9]+", text.lower())})
    chars = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [str(d) for d in range(10)]
    vocab = SPECIAL + words + [c for c in chars if c not in words] + [f"##{c}" for c in chars]
    tokenizer = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    fast.save_pretrained(path)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        pad_token_id=0,
    )
    BertForMaskedLM(config).save_pretrained(path)
    # A uniCOIL-style term-weight head beside the backbone, as castorini's checkpoints store it.
    weights = load_file(path / "model.safetensors")
    weights["tok_proj.weight"] = torch.randn(1, 32) * 0.5
    weights["tok_proj.bias"] = torch.tensor([0.1])
    save_file(weights, path / "model.safetensors", metadata={"format": "pt"})
    return path


def build_llama(path: Path) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<pad>", "<s>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(_texts(), trainer)
    tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>"
    )
    fast.save_pretrained(path)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
        tie_word_embeddings=False,
    )
    LlamaForCausalLM(config).save_pretrained(path)
    return path
