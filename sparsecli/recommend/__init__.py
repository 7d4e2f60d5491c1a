"""Sequential recommendation for `sparse train-rec`: interaction data (data/), models
(models/), losses (losses.py), training (train.py), full-ranking evaluation (ranking.py,
metrics.py) and TREC export (export.py). Hydra-free: commands/train_rec.py turns configs
into calls."""
