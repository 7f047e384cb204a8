# Each target builds .venv itself when it is missing or pyproject.toml changed
# (the stamp name carries a hash of pyproject.toml and setup.py, so a second call starts at once).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
HASH   := $(shell $(PYTHON) -c "import hashlib,sys;print(hashlib.sha1(open('pyproject.toml','rb').read()+open('setup.py','rb').read()).hexdigest()[:12])")
STAMP  := $(VENV)/.stamp-$(HASH)
EXTRAS ?= test

.PHONY: run test test-fast bench bundle bundle-test clean venv gpu-check

venv: $(STAMP)

$(STAMP): pyproject.toml setup.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# pip takes torch/torchvision from this machine's wheel store where it has them.
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	@rm -f $(VENV)/.stamp-*
	@touch $@

run: $(STAMP)
	$(VENV)/bin/gcam-desktop --demo

# The whole suite (CI), with the 25 slowest tests listed at the end.
test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -p no:cacheprovider --durations=25

# The edit-test loop: leaves out the tests marked slow (see the marker in pyproject.toml).
test-fast: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -p no:cacheprovider -m "not slow and not cuda"

bench: $(STAMP)
	for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# Desktop build (issue 6): PyInstaller goes into .venv, the bundle into dist/gcam-desktop/.
bundle: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bundle]'
	$(PY) packaging/build.py

bundle-test: bundle
	$(PY) packaging/bundle_test.py

# On a machine with a CUDA GPU (the device tool's: its python3 has torch, pytest and pillow;
# carry platformdirs as a wheel there). No venv: the project runs from its folder.
# The CUDA tests (maps against the CPU, a checkpoint onto the GPU, one AMP epoch, DDP with
# NCCL and SyncBatchNorm on every GPU, gcam-explain), then the explanation benchmark on CUDA.
GPU_PY ?= python3
gpu-check:
	PYTHONPATH=. $(GPU_PY) -m pytest -p no:cacheprovider -m cuda -ra tests/gpu
	PYTHONPATH=. $(GPU_PY) bench/explain.py --devices cuda

clean:
	rm -rf $(VENV) build dist *.egg-info
