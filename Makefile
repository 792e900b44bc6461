# Two entry points for a fresh machine: `make demo` and `make test`. Each builds .venv from scratch
# when it is missing (torch pinned to the release on this machine's disk) and then runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_PINS := torch==2.14.1 torchvision==0.29.1

.PHONY: demo demo-sprites test lint venv clean

$(BIN)/vmieval: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_PINS)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(BIN)/vmieval

venv: $(BIN)/vmieval

# The test extra: libraries whose own saved models the tests train and read (pythae), and the sweep
# executors' engines (Ray, submitit) that tests/test_sweep_executors.py runs locally.
$(VENV)/.test-extra: $(BIN)/vmieval
	$(BIN)/python -m pip install --quiet -e ".[dev,test,ray,slurm]"
	touch $@

# The embedded default: the two pretrained fixture models, compared on the fixture sample (no network).
demo: venv
	$(BIN)/vmieval report --compare fixtures/models/sample-joint-elbo.pt fixtures/models/sample-joint-mi.pt \
		--dataset mnist-sample --out reports/demo --force

# Ground-truth factors: the Gaussian-only sprites fixture model on the generated sprites (no network):
# the I(z_j; v_k) matrix, MIG and disentanglement_lib's histogram MIG (MI bounds skipped: --no-mi).
demo-sprites: venv
	$(BIN)/vmieval report fixtures/models/sprites-gauss10-mi.pt --data sprites --no-mi \
		--out reports/demo-sprites --force

# One pytest-xdist worker per core (at most 4: each imports torch), one torch thread each (tests/conftest.py);
# worksteal keeps both cores busy to the end. A plain `.venv/bin/python -m pytest FILE` runs serially.
test: venv $(VENV)/.test-extra
	$(BIN)/python -m pytest -n auto --maxprocesses 4 --dist worksteal

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) runs reports
