"""The models of `sparse train-rec`: one module per option (configs in models/config.py,
the RecModel base in models/base.py)."""
