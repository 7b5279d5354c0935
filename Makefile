# faultline — build, test and run the scenario suites.
# `make help` lists the targets.

GO        ?= go
BIN       := bin
RUNS      := runs
REFENGINE := $(BIN)/refengine
FAULTLINE := $(BIN)/faultline
FUZZTIME  ?= 10s
# make soak: how long faults are injected, and the seed (0 picks one).
SOAK_DURATION ?= 10m
SOAK_SEED     ?= 0
# Packages with concurrent code run their unit tests under the race detector.
RACE_PKGS := ./engine/nbd/... ./engine/raid1/... ./engine/lvstore/... ./engine/jsonrpc/... \
             ./engine/target/... ./engine/manager/... ./engine/instance/... ./engine/engineproc/... \
             ./engine/bdev/... ./cluster/... ./faults/... ./workload/... ./checkers/... ./timeline/...

.PHONY: help build test unit race fuzz vet e2e-local e2e soak bench mutation report clean

help:
	@echo "make build      build bin/refengine and bin/faultline"
	@echo "make test       vet, unit + integration + interop tests, race, short fuzz, smoke scenario"
	@echo "make e2e-local  run every scenario on the embedded local cluster (report in runs/latest)"
	@echo "make e2e        run the scenarios on a kind cluster"
	@echo "make soak       faultline soak on the local cluster (SOAK_DURATION=$(SOAK_DURATION), SOAK_SEED=$(SOAK_SEED))"
	@echo "make bench      fio benchmark: refengine exports vs nbdkit's file plugin"
	@echo "make mutation   run each seed and integrity scenario with and without its defect"
	@echo "make report DIR=runs/<id>   regenerate report.html of a run"
	@echo "make clean      remove bin/ and runs/"

build:
	$(GO) build -o $(REFENGINE) ./cmd/refengine
	$(GO) build -o $(FAULTLINE) ./cmd/faultline

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...

unit: build
	$(GO) test -count=1 -timeout 20m ./...

race:
	$(GO) test -count=1 -race -short -timeout 20m $(RACE_PKGS)

fuzz:
	@set -e; for spec in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs grep -H '^func Fuzz' | sed -E 's#^\./(.*)/[^/]*_test.go:func (Fuzz[A-Za-z0-9_]*).*#\1:\2#' | sort -u); do \
		pkg=$${spec%%:*}; fn=$${spec##*:}; \
		echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) ./$$pkg || exit 1; \
	done

test: vet unit race fuzz

e2e-local: build
	$(FAULTLINE) run --cluster local --refengine $(REFENGINE)

e2e:
	@echo "make e2e targets a kind cluster, which is not built yet." >&2
	@echo "Run the same scenarios on the embedded local cluster with: make e2e-local" >&2
	@exit 2

soak: build
	$(FAULTLINE) soak --refengine $(REFENGINE) --duration $(SOAK_DURATION) --seed $(SOAK_SEED)

bench: build
	$(GO) run ./cmd/refbench --refengine $(REFENGINE) --out $(RUNS)/bench.json

mutation: build
	$(FAULTLINE) mutation --refengine $(REFENGINE)

report:
	@test -n "$(DIR)" || (echo "usage: make report DIR=runs/<id>" >&2; exit 2)
	$(GO) run ./cmd/faultline report $(DIR)

clean:
	rm -rf $(BIN) $(RUNS)
