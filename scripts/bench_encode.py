"""SPLADE document encoding throughput: sparsecli's encoder against a naive loop, one process.

    python scripts/bench_encode.py                                     # splade-tiny, 512 SciFact docs, CPU
    python scripts/bench_encode.py --docs 2000 --batch-size 32 --json out.json
    python scripts/bench_encode.py --random-model bert-base --device cuda --dtype bf16   # on a GPU

Both sides run the same model, tokenizer, max length (256), batch size and documents.
- sparsecli: batches sorted by token length (little padding), SPLADE pooled inside the output
  projection a few positions at a time (the [batch, length, vocab] logits never exist),
  pruning and sparsification on the device, `inference_mode`.
- naive: batches in input order padded to their longest text, full logits,
  log(1 + relu) * mask, max over positions, the dense matrix moved to the CPU and sparsified
  there: what a straightforward SPLADE script does.
Reported: docs/s of each, their ratio, and the largest weight difference between the outputs.
`--random-model bert-base` builds a BERT-base-sized masked LM from a config with random
weights (no download), for GPU throughput at bf16.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def load_texts(path: Path, count: int) -> list[str]:
    texts = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            texts.append(" ".join(t for t in (record.get("title", ""), record.get("text", "")) if t))
            if len(texts) == count:
                break
    return texts


def random_bert_base(folder: Path, tokenizer_from: Path) -> Path:
    """BERT-base shape (12 layers, hidden 768, vocab 30522) with random weights."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    BertForMaskedLM(BertConfig()).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tokenizer_from).save_pretrained(folder)
    return folder


def naive(model, tokenizer, texts, batch_size, max_length, device) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import torch

    indptr, indices, data = [0], [], []
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(
                texts[start : start + batch_size],
                truncation=True,
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            ).to(device)
            logits = model(**batch).logits
            weights = (torch.log1p(torch.relu(logits)) * batch["attention_mask"].unsqueeze(-1)).max(dim=1).values
            weights[:, tokenizer.all_special_ids] = 0
            dense = weights.float().cpu().numpy()
            for row in dense:
                columns = np.flatnonzero(row)
                indices.append(columns.astype(np.int32))
                data.append(row[columns])
                indptr.append(indptr[-1] + len(columns))
    return np.array(indptr), np.concatenate(indices), np.concatenate(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=SHARED / "models" / "splade-tiny")
    parser.add_argument("--random-model", choices=["bert-base"], default=None)
    parser.add_argument("--corpus", type=Path, default=SHARED / "data" / "ir" / "scifact" / "beir" / "corpus.jsonl")
    parser.add_argument("--docs", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    import torch

    from sparsecli.encode.lsr.config import Device, DType, SideConfig
    from sparsecli.encode.lsr.hf import LoadOptions
    from sparsecli.encode.lsr.sides import SideFactory

    model_dir = args.model
    if args.random_model:
        model_dir = random_bert_base(Path(tempfile.mkdtemp()), args.model)
    texts = load_texts(args.corpus, args.docs)
    options = LoadOptions(None, DType(args.dtype), Device(args.device), True, False)
    side = SideFactory(options, args.batch_size, False).build(
        "doc", SideConfig(model=str(model_dir), max_length=args.max_length)
    )
    device = side.device

    def synchronize():
        if device.type == "cuda":
            torch.cuda.synchronize()

    side.encode(texts[: args.batch_size])  # warm-up
    naive(side.model, side.tokenizer, texts[: args.batch_size], args.batch_size, args.max_length, device)
    synchronize()
    start = time.perf_counter()
    ours = side.encode(texts)
    synchronize()
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    theirs = naive(side.model, side.tokenizer, texts, args.batch_size, args.max_length, device)
    synchronize()
    naive_s = time.perf_counter() - start

    def dense(rows):
        out = np.zeros((len(rows[0]) - 1, side.vocab_size), dtype=np.float32)
        for r in range(len(rows[0]) - 1):
            out[r, rows[1][rows[0][r] : rows[0][r + 1]]] = rows[2][rows[0][r] : rows[0][r + 1]]
        return out

    difference = float(np.abs(dense(ours) - dense(theirs)).max())
    result = {
        "benchmark": "splade_encode_throughput",
        "model": "random bert-base" if args.random_model else str(args.model),
        "device": str(device),
        "dtype": args.dtype,
        "docs": len(texts),
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        "threads": torch.get_num_threads(),
        "sparsecli_docs_per_s": len(texts) / ours_s,
        "naive_docs_per_s": len(texts) / naive_s,
        "ratio": naive_s / ours_s,
        "max_weight_difference": difference,
    }
    print(
        f"{result['model']} on {device} ({args.dtype}): sparsecli {result['sparsecli_docs_per_s']:,.1f} docs/s, "
        f"naive {result['naive_docs_per_s']:,.1f} docs/s, ratio {result['ratio']:.2f}x, max |diff| {difference:.2e}"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
