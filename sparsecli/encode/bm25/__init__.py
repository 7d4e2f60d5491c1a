"""BM25 (Lucene's variant and the classic ones): config, term counting and weighting."""
