"""File formats: array folders (memory-mappable .npy + JSON manifest), TREC runs and qrels, text lines."""
