"""Evaluation: ir-measures over TREC runs and qrels, paired significance tests, result tables."""
