# Cross-Entropy, Derived: every command a reader, learner, instructor or CI needs.
#   make book      set up .venv (if missing) and build the site into _build/html
#   make test      set up, build, and run every test (nbval, hygiene, unit, conformance, site),
#                  then nbval again with perturbed exp/log (outputs must not depend on the CPU)
#   make execute   re-execute every chapter notebook in place, deterministically
#   make lab       open the notebooks in JupyterLab from the venv
#   make book-no-solutions   the site without exercise solutions, for instructors
#   make assignments   nbgrader assignments (source + release) and student notebooks, in _build/
#   make bench     measure speed and memory of the cross-entropies on this machine (not a test)
#   make clean     remove the build, the venv and installed assets

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-requirements
ASSETS := _vendor/mathjax/tex-chtml-full.js
JB     := $(BIN)/jupyter-book build . --all -W -n --keep-going

.PHONY: book book-no-solutions test execute lab clean venv assets browser frameworks bench \
	assignments student nbgrader

venv: $(STAMP)

$(STAMP): requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

# The frameworks compared in the frameworks chapter (heavy: about 3.4 GB); `make book` does not
# need them.
FW_STAMP := $(VENV)/.installed-frameworks

frameworks: $(FW_STAMP)

$(FW_STAMP): requirements-frameworks.txt $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		-r requirements-frameworks.txt -c requirements.txt
	@touch $@

# nbgrader, for `make assignments` and the autograding test (not needed by `make book`).
NBG_STAMP := $(VENV)/.installed-nbgrader

nbgrader: $(NBG_STAMP)

$(NBG_STAMP): requirements-nbgrader.txt $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		-r requirements-nbgrader.txt -c requirements.txt
	@touch $@

# MathJax comes from the npm registry (pinned in package.json / package-lock.json) and is
# served by the site itself, so that formulas render with no network.
assets: $(ASSETS)

$(ASSETS): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	rm -rf _vendor/mathjax
	mkdir -p _vendor/mathjax/output/chtml/fonts
	cp node_modules/mathjax/es5/tex-chtml-full.js _vendor/mathjax/
	cp -r node_modules/mathjax/es5/output/chtml/fonts/woff-v2 _vendor/mathjax/output/chtml/fonts/

# The student notebooks (solutions removed, self-checks kept) that the site offers for download.
student: venv
	$(BIN)/python tools/assignments.py student _build/student

book: venv assets student
	$(JB)
	@echo "Open _build/html/index.html in a browser."

book-no-solutions: venv assets student
	$(BIN)/python tools/strip_solutions.py _build/no-solutions-src
	cd _build/no-solutions-src && ../../$(BIN)/jupyter-book build . --all -W -n --keep-going \
		--path-output ../no-solutions
	@echo "Open _build/no-solutions/_build/html/index.html in a browser."

assignments: venv nbgrader student
	$(BIN)/python tools/assignments.py nbgrader _build/nbgrader
	@echo "nbgrader course directory: _build/nbgrader (source/, release/); student notebooks: _build/student"

browser:
	@sh tools/ensure-chromium.sh

# The second run is nbval again, with NumPy's exp/log/... one ULP off on some elements in the
# notebook kernels (tools/perturb): a compared output that prints machine-dependent digits fails.
test: venv frameworks nbgrader browser book
	sh tools/offline.sh $(BIN)/python -m pytest
	sh tools/offline.sh env PYTHONPATH=$(CURDIR)/tools/perturb BOOK_PERTURB=1 $(BIN)/python -m pytest book/chapters

execute: venv frameworks
	$(BIN)/python tools/execute_notebooks.py

bench: venv frameworks
	$(BIN)/python benchmarks/bench.py

lab: venv
	@test -x $(BIN)/jupyter-lab || $(BIN)/python -m pip install --quiet -r requirements-lab.txt
	$(BIN)/jupyter-lab book/chapters

clean:
	rm -rf _build _vendor node_modules $(VENV) .pytest_cache .hypothesis
