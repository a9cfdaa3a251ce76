# tinyeie: `make demo` and `make test` are all a fresh clone needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test test-fast lint sim bench bitstream prog models clean formal sim-full gate coverage verification-doc \
        fuzz-host fuzz-modelfiles fuzz-images fuzz-board

BOARD ?= icebreaker
MODEL ?= models/lenet300.npz

# Create the venv when missing, install the project (editable) with its pinned tools.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# One BLAS thread per process: two numpy processes each spinning two threads on two cores
# thrash (seen here: 50x slower), so parallel jobs get one thread each.
test: lint
	OPENBLAS_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 tests

# Style (ruff) and the layers (import-linter: a package imports only those below it; run
# through tools/lint_imports.py, since api/ makes `tinyeie` a real package).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python tools/lint_imports.py

# The fast tier: no Verilator, no bitstream builds, nothing that takes minutes.
test-fast: $(STAMP)
	OPENBLAS_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 -m "not verilator and not toolchain and not slow and not formal" tests

# The RTL regression alone: cocotb on Verilator against the golden model.
sim: $(STAMP)
	OPENBLAS_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 -m verilator tests

# Every formal proof (SymbiYosys from PyPI); figures in docs/verification/formal.json.
formal: $(STAMP)
	$(BIN)/python -m tinyeie.sim.formal --json docs/verification/formal.json
	$(BIN)/python -m tinyeie.sim.verification_doc

# The regressions at scale (hours, outside make test): 10,000 MNIST images at 4 and 16 PEs,
# random networks at 1..16 PEs under every traffic pattern, random host-protocol traffic.
sim-full: $(STAMP)
	OPENBLAS_NUM_THREADS=1 $(BIN)/python -m tinyeie.sim.regress random --json docs/verification/random.json
	OPENBLAS_NUM_THREADS=1 $(BIN)/python -m tinyeie.sim.regress protocol --json docs/verification/protocol.json
	OPENBLAS_NUM_THREADS=1 $(BIN)/python -m tinyeie.sim.regress mnist --json docs/verification/mnist.json
	$(BIN)/python -m tinyeie.sim.verification_doc

# The boards' gate-level netlists (synthesised as tinyeie build does), 20 MNIST images each.
gate: $(STAMP)
	OPENBLAS_NUM_THREADS=1 $(BIN)/tinyeie sim --board icebreaker $(MODEL) --netlist synth --images 20 --json > docs/verification/gate-icebreaker.json
	OPENBLAS_NUM_THREADS=1 $(BIN)/tinyeie sim --board ulx3s $(MODEL) --netlist synth --images 20 --json > docs/verification/gate-ulx3s.json
	$(BIN)/python -m tinyeie.sim.verification_doc

# Verilator line and toggle coverage of the engine under its regressions, per module.
coverage: $(STAMP)
	OPENBLAS_NUM_THREADS=1 $(BIN)/python -m tinyeie.sim.coverage --json docs/verification/coverage-engine.json
	$(BIN)/python -m tinyeie.sim.verification_doc

verification-doc: $(STAMP)
	$(BIN)/python -m tinyeie.sim.verification_doc

# Cycles per MNIST image on the RTL against the ideal and the dense engine (prints a table).
bench: $(STAMP)
	OPENBLAS_NUM_THREADS=1 $(BIN)/python -m tinyeie.sim.bench_cycles

# The fuzzers at full size (make test runs a short slice of each); figures in docs/verification/.
# 10,000 damaged answers against the host (virtual time: about a minute).
fuzz-host: $(STAMP)
	$(BIN)/python -m tinyeie.sim.fuzz_host --cases 10000 --seed 1 \
	    --json docs/verification/fuzz_host.json
	$(BIN)/python -m tinyeie.sim.robustness
# 100,000 structurally edited model images (correct CRC) through the loader's model, read_image
# and the interpreter (about 10 min).
fuzz-images: $(STAMP)
	OPENBLAS_NUM_THREADS=1 $(BIN)/python -m tinyeie.sim.fuzz_images --cases 100000 --seed 1 \
	    --json docs/verification/fuzz_images.json
# 300 malformed model files through every command that reads one (subprocesses: about 30 min).
fuzz-modelfiles: $(STAMP)
	OPENBLAS_NUM_THREADS=1 $(BIN)/python -m tinyeie.sim.fuzz_modelfiles --cases 300 --seed 1 \
	    --json docs/verification/fuzz_modelfiles.json
	$(BIN)/python -m tinyeie.sim.robustness

# The board top's fuzzers on Verilator (ULX3S top, 4 PEs, the real loader and engine): 10,000
# mutated model images (about 15 min), then 100,000 byte streams each followed by a good frame
# (about 45 min).
fuzz-board: $(STAMP)
	OPENBLAS_NUM_THREADS=1 $(BIN)/python -m tinyeie.sim.fuzz_board images --cases 10000 --seed 1 \
	    --json docs/verification/fuzz_board_images.json
	OPENBLAS_NUM_THREADS=1 $(BIN)/python -m tinyeie.sim.fuzz_board streams --cases 100000 \
	    --seed 1 --json docs/verification/fuzz_board_streams.json
	$(BIN)/python -m tinyeie.sim.robustness

# Rebuild the shipped compressed models from scratch (real MNIST, full training).
models: $(STAMP)
	$(BIN)/tinyeie train lenet300 -o build/lenet300-float.npz
	$(BIN)/tinyeie compress build/lenet300-float.npz -o models/lenet300.npz
	$(BIN)/tinyeie train lenet5 -o build/lenet5-float.npz
	$(BIN)/tinyeie compress build/lenet5-float.npz -o models/lenet5.npz

# The main job, no board needed: the shipped LeNet-300-100 compressed, packed for the engine,
# as Verilog, run on the RTL against the golden model, then as an iCEBreaker bitstream.
demo: $(STAMP)
	$(BIN)/tinyeie stats models/lenet300.npz
	$(BIN)/tinyeie report models/lenet300.npz -o build/report/lenet300
	$(BIN)/tinyeie pack models/lenet300.npz --pes 4 -o build/demo/lenet300-4pe
	$(BIN)/tinyeie verilog --pes 4 -o build/demo/engine.v
	OPENBLAS_NUM_THREADS=1 $(BIN)/tinyeie sim build/demo/lenet300-4pe --images 200
	$(BIN)/tinyeie build --board icebreaker build/demo/lenet300-4pe -o build/icebreaker
	@echo "To run it on an iCEBreaker: make prog BOARD=icebreaker, then"
	@echo "  $(BIN)/tinyeie infer --model-image build/icebreaker/model   (the board is found by USB ID)"

# A board's bitstream (and flash image) for MODEL, in build/BOARD.
bitstream: $(STAMP)
	$(BIN)/tinyeie build --board $(BOARD) $(MODEL) -o build/$(BOARD)

# Write build/BOARD to an attached board (iceprog or openFPGALoader).
prog: $(STAMP)
	$(BIN)/tinyeie program --board $(BOARD) --build-dir build/$(BOARD)

clean:
	rm -rf build
