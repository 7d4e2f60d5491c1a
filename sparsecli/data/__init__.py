"""Collections: documents, queries and qrels from BEIR folders, MS MARCO TSVs, ir_datasets and HF datasets."""
