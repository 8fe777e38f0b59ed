# One venv for the project (python3 >= 3.11); SAM CLI in its own venv (it pins boto3 and click).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .sam-venv
TOOLS_VENV := .ci/.venv-tools
ASL_VALIDATOR := .ci/node_modules/.bin/asl-validator
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: run test lint format unit integration e2e validate build sam-venv clean bench bench-soak \
	bench-cold-start infra-lint

$(VENV)/.installed: pyproject.toml layers/tradebot/requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "python3 >= 3.11 is required (found %s)" % sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --quiet -e '.[dev]'
	touch $@

run: $(VENV)/.installed ## the whole pipeline locally: emulated AWS, offline synthetic data
	$(BIN)/tradebot run

test: lint unit integration e2e ## everything CI runs on every change

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(VENV)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

unit: $(VENV)/.installed
	$(BIN)/pytest tests/unit -q

integration: $(VENV)/.installed
	$(BIN)/pytest tests/integration -q

e2e: $(VENV)/.installed
	$(BIN)/pytest tests/e2e -q

sam-venv: ## AWS SAM CLI in its own venv .sam-venv (needs python3.13: scripts/find_python313.sh)
	scripts/install_sam.sh

validate: sam-venv ## lint template.yaml offline (sam validate --lint); tests/unit/test_template.py checks the ASL
	scripts/sam.sh validate --lint

build: sam-venv $(VENV)/.installed ## sam build (layers by scripts/build_layer.py), then each function's size against its budget
	scripts/sam.sh build
	$(BIN)/python scripts/check_build_size.py

bench-cold-start: $(VENV)/.installed ## isolated python3.13 cold `import app` of an x86_64 twin of `sam build`, with sizes
	$(BIN)/python bench/cold_start.py --built

$(TOOLS_VENV)/.installed: .ci/tools-requirements.txt
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install --quiet --upgrade pip
	$(TOOLS_VENV)/bin/pip install --quiet -r .ci/tools-requirements.txt
	touch $@

$(ASL_VALIDATOR): .ci/package.json .ci/package-lock.json
	npm ci --prefix .ci --no-audit --no-fund --loglevel=error
	touch $@

infra-lint: $(TOOLS_VENV)/.installed $(ASL_VALIDATOR) ## cfn-lint (all rules), checkov, asl-validator; accepted findings: .ci/accepted-findings.yaml
	$(TOOLS_VENV)/bin/python .ci/infra_checks.py

bench: $(VENV)/.installed ## optimizer vs vectorbt and backtesting.py (~1 min; uses ../shared/realdata when present)
	$(BIN)/python bench/optimizer.py

bench-soak: $(VENV)/.installed ## executor soak: orders with duplicates and crashes through emulated SQS, two executors
	$(BIN)/python bench/executor_soak.py

clean:
	rm -rf $(VENV) $(SAM_VENV) $(TOOLS_VENV) .ci/node_modules .aws-sam .pytest_cache .mypy_cache .ruff_cache
