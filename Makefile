# mindgate: `make eval` and `make test` each install what is missing first.
#
#   make install              build .venv (VLLM=auto|cpu|cuda|none; auto = cuda if nvidia-smi sees a GPU)
#   make eval [MODEL=...] [ADAPTER="a=path b=path"] [TASKS=...] [LIMIT=N] [BACKEND=hf|vllm]
#   make serve [MODEL=...] [ADAPTER="a=path b=path"]   a vLLM server (canary-checked) until Ctrl-C
#   make bench                vllm backend vs vLLM's own benchmark, vs hf, resume cost; hf backend vs lm-eval
#                             alone on the multiple-choice tasks; the trainers (sft, dpo, reward, grpo, rloo,
#                             ppo) vs plain TRL (idle machine!)
#   make guard UPSTREAM=url   the safety guard in front of a served model (rubrics/guard.yaml)
#   make bench-guard          the guard's added latency, throughput, and the suite with and without it
#   make bench-suite [BEFORE=1]   wall time of the whole mh_suite (BEFORE=1: also the old way, and compare)
#   make test                 fast + integration tests (slow ones excluded)
#   make test-slow            only the tests marked slow
#   make check                ruff + mypy on the package
#   make gate BASELINE=run [MODEL=...] [ADAPTER=name=path] [LIMIT=N] [RULES=rubrics/gate.yaml]
#                             evaluate what the rules need, floors first, stop at the first failed floor
#   make gate CANDIDATE=run BASELINE=run [RULES=...]   judge a finished run
#                             exit 0 accept / 1 reject / 2 unusable (make exits 2 on either failure;
#                             its last line says which)
#   make report RUNS="run [run ...]" [BASELINE=run] [OUT=file]   self-contained HTML report in reports/html/
#   make scorers              retrain the empathy/toxicity scorers (needs ../shared/data) and the crisis classifier
#                             (from rubrics/crisis/pairs), and rewrite reports/validation
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
VLLM ?= auto
BIN := $(VENV)/bin

MODEL ?= smollm2-135m-instruct
TASKS ?= mh_suite
ADAPTER ?=
LIMIT ?=
EVAL_ARGS ?=
BACKEND ?= hf

# Offline by design: nothing is fetched from a model hub at run time.
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1

.PHONY: help install eval serve guard bench bench-guard bench-suite bench-suite-compute test test-slow check check-label-studio gate report leaderboard scorers clean-cache

help:
	@awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' Makefile

install:
	@VENV=$(VENV) PYTHON=$(PYTHON) VLLM=$(VLLM) bash scripts/install.sh

eval: install
	$(BIN)/mindgate eval --model $(MODEL) --tasks $(TASKS) --backend $(BACKEND) \
		$(foreach a,$(ADAPTER),--adapter $(a)) $(if $(LIMIT),--limit $(LIMIT)) $(EVAL_ARGS)

serve: install
	$(BIN)/mindgate serve --model $(MODEL) $(foreach a,$(ADAPTER),--adapter $(a))

# Writes reports/bench/vllm-backend.{json,md}, guard.{json,md}, hf-speed.{json,md} and trainers.{json,md}
# (SFT, DPO, reward model, GRPO, RLOO and PPO against plain TRL); run it on an otherwise idle machine.
BENCH_LIMIT ?= 60
bench: install
	$(BIN)/python scripts/bench_vllm.py
	$(BIN)/python scripts/bench_guard.py
	$(BIN)/python scripts/bench_speed.py --limit $(BENCH_LIMIT)
	$(BIN)/python scripts/bench_trainers.py

# Writes reports/bench/guard.{json,md}: the guard's added latency, throughput and suite figures.
bench-guard: install
	$(BIN)/python scripts/bench_guard.py

# A safety guard in front of a served model (make serve in another terminal):
#   make guard UPSTREAM=http://127.0.0.1:8000/v1
guard: install
	@test -n "$(UPSTREAM)" || { echo "usage: make guard UPSTREAM=http://host:port/v1 [PORT=8100]"; exit 2; }
	$(BIN)/mindgate guard --upstream $(UPSTREAM) --port $(or $(PORT),8100)

# Writes reports/bench/hf-suite.{json,md}: the whole suite once (BEFORE=1: twice), so allow an hour;
# then hf-suite-compute.{json,md}: the run's counted work against this CPU's measured rates.
bench-suite: install
	$(BIN)/python scripts/bench_suite.py $(if $(BEFORE),--before)
	$(BIN)/python scripts/bench_suite_compute.py

# Only the second half of bench-suite, on its last run (the run's samples must still exist).
bench-suite-compute: install
	$(BIN)/python scripts/bench_suite_compute.py

# pytest exits 5 when it collects no tests; that is reported, not treated as a crash.
test: install
	@$(BIN)/python -m pytest -m "not slow" --durations=20 tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests"; exit 0; fi; exit $$rc

test-slow: install
	$(BIN)/python -m pytest -m slow tests

check: install
	$(BIN)/ruff check harness tests scripts tasks
	$(BIN)/mypy

# An annotation package checked by Label Studio's own code (label-studio-sdk, in its own
# environment .venv-label-studio: it pins libraries the project's cannot share): configurations
# parse, rater tasks validate, and annotations Label Studio generates import with `mindgate`.
LS_VENV ?= .venv-label-studio
LS_OUT ?= reports/label-studio-check
check-label-studio: install
	@test -x $(LS_VENV)/bin/python || { $(PYTHON) -m venv $(LS_VENV) && $(LS_VENV)/bin/pip install -q label-studio-sdk==2.1.2; }
	rm -rf $(LS_OUT) && mkdir -p $(LS_OUT)
	$(BIN)/mindgate annotate export smollm2-135m-suite-v4 --n 8 --raters 2 --out $(LS_OUT)/package
	$(LS_VENV)/bin/python scripts/check_label_studio.py $(LS_OUT)/package $(LS_OUT)/exports
	$(BIN)/mindgate annotate import $(LS_OUT)/exports/*.json --manifest $(LS_OUT)/package/manifest.json \
		--db $(LS_OUT)/labels.db

gate: install
	@test -n "$(BASELINE)" || { echo "usage: make gate BASELINE=<run> [CANDIDATE=<run> | MODEL=... ADAPTER=name=path]"; exit 2; }
	@$(BIN)/mindgate gate --baseline $(BASELINE) $(if $(RULES),--rules $(RULES)) \
		$(if $(CANDIDATE),--candidate $(CANDIDATE),--model $(MODEL) $(foreach a,$(ADAPTER),--adapter $(a)) \
		$(if $(LIMIT),--limit $(LIMIT)) $(EVAL_ARGS)); \
	status=$$?; case $$status in 0) ;; 1) echo "make gate: REJECTED (mindgate gate exit 1)";; \
	*) echo "make gate: unusable input (mindgate gate exit $$status)";; esac; exit $$status

report: install
	@test -n "$(RUNS)" || { echo 'usage: make report RUNS="<run> [<run> ...]" [BASELINE=<run>] [OUT=<file>]'; exit 2; }
	$(BIN)/mindgate report $(RUNS) $(if $(BASELINE),--baseline $(BASELINE)) $(if $(OUT),--out $(OUT)) \
		$(if $(RULES),--rules $(RULES))

# Seeded and reproducible: rerunning gives byte-identical artifacts (the scripts check it).
SHARED ?= ../shared/data
scorers: install
	$(BIN)/python scripts/train_empathy_scorer.py --data-dir $(SHARED)/epitome
	$(BIN)/python scripts/validate_empathy_scorer.py --data-dir $(SHARED)/epitome
	$(BIN)/python scripts/train_toxicity_scorer.py \
		--davidson-csv $(SHARED)/davidson-hate-offensive/labeled_data.csv \
		--toxigen-demonstrations $(SHARED)/toxigen/demonstrations \
		--counselchat-csv $(SHARED)/counselchat/20200325_counsel_chat.csv
	$(BIN)/python scripts/validate_toxicity_scorer.py
	$(BIN)/python scripts/train_crisis_classifier.py
	$(BIN)/python scripts/validate_crisis_scorer.py

leaderboard: install
	$(BIN)/mindgate leaderboard

clean-cache:
	rm -rf "$${MINDGATE_HOME:-$${XDG_CACHE_HOME:-$$HOME/.cache}/mindgate}/request-cache"
