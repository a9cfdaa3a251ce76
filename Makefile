# tinyeie: `make demo` and `make test` are all a fresh clone needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test sim bench models clean

# Create the venv when missing, install the project (editable) with its pinned tools.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# One BLAS thread per process: two numpy processes each spinning two threads on two cores
# thrash (seen here: 50x slower), so parallel jobs get one thread each.
test: $(STAMP)
	OPENBLAS_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 tests sim

# The RTL regression alone: cocotb on Verilator against the golden model.
sim: $(STAMP)
	OPENBLAS_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 sim

# Cycles per MNIST image on the RTL against the ideal and the dense engine (prints a table).
bench: $(STAMP)
	OPENBLAS_NUM_THREADS=1 $(BIN)/python -m tinyeie.sim.bench_cycles

# Rebuild the shipped compressed models from scratch (real MNIST, full training).
models: $(STAMP)
	$(BIN)/tinyeie train lenet300 -o build/lenet300-float.npz
	$(BIN)/tinyeie compress build/lenet300-float.npz -o models/lenet300.npz
	$(BIN)/tinyeie train lenet5 -o build/lenet5-float.npz
	$(BIN)/tinyeie compress build/lenet5-float.npz -o models/lenet5.npz

demo: $(STAMP)
	$(BIN)/tinyeie stats models/lenet300.npz
	$(BIN)/tinyeie stats models/lenet5.npz
	$(BIN)/tinyeie report models/lenet300.npz -o build/report/lenet300
	$(BIN)/tinyeie decompress models/lenet300.npz -o build/lenet300-dense.npz

clean:
	rm -rf build
