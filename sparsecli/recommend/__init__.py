"""Sequential recommendation for `sparse train-rec`: interaction data (data/), models
(models/), losses (losses.py), training (train.py), full-ranking evaluation (ranking.py,
metrics.py) and TREC export (export.py). Hydra-free: commands/train_rec.py turns configs
into calls."""

# What a train-rec run holds for `sparse eval`: <split>/run.trec.gz and <split>/qrels.txt.
TEST = "test"
RUN_FILE = "run.trec.gz"
QRELS_FILE = "qrels.txt"
