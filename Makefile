# sparsecli: make install | test | smoke | demo | scifact | scifact-splade | beauty | bench | bench-search | bench-exact | bench-rec | bench-rank
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SPARSE := $(BIN)/sparse
SHARED_DATA ?= ../shared/data
# The CPU build of torch, installed before the project so the `torch>=2.2` requirement is met
# without pulling the multi-GB CUDA build; override for a GPU machine, e.g. TORCH=torch.
TORCH ?= torch==2.13.0
export SPARSECLI_RUNS ?= runs

.PHONY: install test smoke demo scifact scifact-splade beauty bench bench-search bench-exact bench-rec bench-rank clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall only when the project's metadata changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[test,irds,bench]"
	touch $@

install: $(VENV)/.installed

test: install
	$(BIN)/pytest

# encode -> index -> search -> eval on the tiny committed collection, chained by run directories.
smoke: install
	ENC=$$($(SPARSE) encode data=beir data.path=tests/data/tiny | tail -n1) && \
	IDX=$$($(SPARSE) index encode_run=$$ENC | tail -n1) && \
	RUN=$$($(SPARSE) search index_run=$$IDX | tail -n1) && \
	$(SPARSE) eval search_run=$$RUN

# The same pipeline on Cranfield, bundled with the package: runs offline on a fresh machine.
demo: install
	ENC=$$($(SPARSE) encode data=cranfield | tail -n1) && \
	IDX=$$($(SPARSE) index encode_run=$$ENC | tail -n1) && \
	RUN=$$($(SPARSE) search index_run=$$IDX | tail -n1) && \
	$(SPARSE) eval search_run=$$RUN eval.measures=[nDCG@10,P@10,AP,R@100]

# BM25 on the full SciFact test set; Anserini's BEIR flat regression is nDCG@10 0.6789.
scifact: install
	ENC=$$($(SPARSE) encode data=scifact data_root=$(SHARED_DATA) | tail -n1) && \
	IDX=$$($(SPARSE) index encode_run=$$ENC | tail -n1) && \
	RUN=$$($(SPARSE) search index_run=$$IDX | tail -n1) && \
	$(SPARSE) eval search_run=$$RUN

# SPLADE with the real splade-tiny checkpoint on the full SciFact test set (about 5 minutes on 2 cores).
scifact-splade: install
	ENC=$$($(SPARSE) encode data=scifact data_root=$(SHARED_DATA) encoder=splade encoder.model=$(SHARED_DATA)/../models/splade-tiny | tail -n1) && \
	IDX=$$($(SPARSE) index encode_run=$$ENC | tail -n1) && \
	RUN=$$($(SPARSE) search index_run=$$IDX | tail -n1) && \
	$(SPARSE) eval search_run=$$RUN

# SASRec on p5-beauty (leave-one-out, full ranking, history masked) with CE, gBCE (k=256, t=0.75)
# and BCE with one negative, the same 20-minute budget each on 2 cores; test figures in each run's metrics.json.
BEAUTY_BUDGET ?= 1200
beauty: install
	for loss in "ce" "gbce loss.negatives=256 loss.t=0.75" "bce loss.negatives=1"; do \
	  RUN=$$($(SPARSE) train-rec data=p5-beauty model=sasrec loss=$$loss trainer.max_wall_s=$(BEAUTY_BUDGET) \
	    data_root=$(SHARED_DATA) | tail -n1) && $(SPARSE) eval search_run=$$RUN eval=rec || exit 1; \
	done

bench: install
	mkdir -p bench
	$(BIN)/python scripts/bench_bm25.py --json bench/bm25.json
	$(BIN)/python scripts/bench_encode.py --json bench/encode.json

# sparsecli vs pyseismic-lsr (and bm25s): SciFact BM25, SciFact splade-tiny, 1M-doc synthetic (about 1.5 hours on 2 cores;
# the two ~9-minute 1M builds are kept in bench/indexes, so a rerun only sweeps).
bench-search: install
	$(BIN)/python scripts/bench_search.py --keep-indexes bench/indexes --out bench/search

# Term-at-a-time vs MaxScore: SciFact BM25 (with bm25s), 1M-doc BM25-like and 300k SPLADE-like synthetic.
bench-exact: install
	mkdir -p bench
	$(BIN)/python scripts/bench_exact.py --json bench/exact.json

# SASRec on ml-100k against RecBole 1.2.1 (its own venv, built from ../shared/peers/recbole), same atomic
# files, split and full ranking, same wall clock (about 20 minutes: RecBole's 3 epochs).
bench-rec: install
	$(BIN)/python scripts/bench_rec.py --data-root $(SHARED_DATA) --out bench/rec

# Full-ranking evaluation of all 22,363 p5-beauty users against 12,101 items, against a full argsort.
bench-rank: install
	$(BIN)/python scripts/bench_rank.py --data-root $(SHARED_DATA)

clean:
	rm -rf runs bench .pytest_cache
