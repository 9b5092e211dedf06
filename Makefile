# Every target creates .venv on first use, so a fresh clone needs only Python 3.11+ and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SCHEMA ?= schema/bindu.yaml
ARGS   ?=

.PHONY: install render plan revision apply check test lint format typecheck bench bench-tenants clean stop schema-json

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[tools,dev]'
	touch $(STAMP)

install: $(STAMP)

render: $(STAMP)
	$(BIN)/bindu-schema render --schema $(SCHEMA) $(ARGS)

# Exit status 2 (changes pending) is a successful plan, not a make failure.
plan: $(STAMP)
	@$(BIN)/bindu-schema plan --schema $(SCHEMA) $(ARGS); rc=$$?; \
	if [ $$rc -eq 2 ]; then exit 0; else exit $$rc; fi

revision: $(STAMP)
	$(BIN)/bindu-schema revision --schema $(SCHEMA) -m "$(M)" $(ARGS)

apply: $(STAMP)
	$(BIN)/bindu-schema apply --schema $(SCHEMA) $(ARGS)

check: $(STAMP)
	$(BIN)/bindu-schema check --schema $(SCHEMA) $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(ARGS)

# schema/bindu-schema.json (for editors) is generated from bindu_schema/kinds/.
schema-json: $(STAMP)
	$(BIN)/python -m bindu_schema.kinds > schema/bindu-schema.json

lint: $(STAMP)
	$(BIN)/ruff check bindu_schema tests bench
	$(BIN)/ruff format --check bindu_schema tests bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format bindu_schema tests bench
	$(BIN)/ruff check --fix bindu_schema tests bench

bench: $(STAMP)
	$(BIN)/python bench/run.py $(ARGS)

# Tenant fleets (2,000 schemas at head, 500 migrated, controller RSS): see also `make bench`.
bench-tenants: $(STAMP)
	$(BIN)/python bench/tenants.py $(ARGS)

stop: $(STAMP)
	$(BIN)/bindu-schema server stop

clean: stop
	rm -rf $(VENV) .bindu_schema
