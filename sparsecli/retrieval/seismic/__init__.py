"""Seismic (Bruch, Nardini, Rulli, Venturini, SIGIR 2024): a pruned, blocked inverted index with
quantised block summaries and a forward index, for approximate top-k (index.py: the format;
build.py + build_kernels.py: construction; search.py + search_kernel.py: queries)."""
