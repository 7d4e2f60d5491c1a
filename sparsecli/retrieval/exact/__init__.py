"""Exact top-k: a term-major inverted index, term-at-a-time (taat.py, select.py) and MaxScore
(maxscore.py) kernels, which return identical rankings and score bits."""
