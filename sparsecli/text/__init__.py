"""Text analysis for lexical encoders: tokenize, filter and stem, as Lucene analyzers do."""
