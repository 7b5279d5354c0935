# faultline — build, test and run the scenario suites.
# `make help` lists the targets.

GO        ?= go
BIN       := bin
RUNS      := runs
REFENGINE := $(BIN)/refengine
FAULTLINE := $(BIN)/faultline
FUZZTIME  ?= 10s
# go1.26's fuzz coordinator can report a bare "context deadline exceeded" failure when -fuzztime
# ends while a worker is busy (go.dev/issue/75804; seen here under load); go1.27 has the fix, so
# fuzzing runs on that toolchain (fetched through the module proxy, a few seconds).
FUZZ_GOTOOLCHAIN ?= go1.27.1
# make soak: how long faults are injected, and the seed (0 picks one).
SOAK_DURATION ?= 10m
SOAK_SEED     ?= 0
# Measured runs of each fio target and workload in make bench (median and spread).
BENCH_REPEAT  ?= 3
# How long make bench-memory keeps a node's three volumes under load while it samples its RSS.
BENCH_MEMORY_DURATION ?= 10m
# Images and kind (make images, make kind-node-image, make e2e).
VERSION            ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
REFENGINE_IMAGE    ?= faultline/refengine:0.1.0-$(VERSION)
KUBERNETES_VERSION ?= v1.34.4
KIND_CACHE         ?= /var/cache/faultline-kind
KIND_CLUSTER       ?= faultline
CHAOS_MESH_CACHE   ?= /var/cache/faultline-chaos-mesh
# Extra flags for faultline run in make e2e, e.g. E2E_FLAGS='--label-filter smoke --keep-cluster'.
E2E_FLAGS          ?= --label-filter 'smoke || seed || integrity'
MUTATION_FLAGS     ?=
# Packages with concurrent code run their unit tests under the race detector.
RACE_PKGS := ./engine/nbd/... ./engine/raid1/... ./engine/lvstore/... ./engine/jsonrpc/... \
             ./engine/target/... ./engine/manager/... ./engine/instance/... ./engine/engineproc/... \
             ./engine/bdev/... ./cluster/... ./faults/... ./workload/... ./checkers/... ./timeline/...

.PHONY: help build test unit race fuzz vet e2e-local e2e soak bench bench-memory mutation report clean \
        images kind-node-image kind-host-setup kind-host-restore kind-smoke chaos-mesh e2e-chaos-mesh mutation-kind

help:
	@echo "make build      build bin/refengine and bin/faultline"
	@echo "make test       vet, unit + integration + interop tests, race, short fuzz, smoke scenario"
	@echo "make e2e-local  run every scenario on the embedded local cluster (report in runs/latest)"
	@echo "make e2e        the scenarios on a kind cluster (E2E_FLAGS=$(E2E_FLAGS))"
	@echo "make e2e-chaos-mesh  make e2e with the faults carried out by Chaos Mesh built from source"
	@echo "make kind-smoke smoke and the seeds on kind at 10 iterations (what CI runs when Docker is present)"
	@echo "make images     build the refengine container image $(REFENGINE_IMAGE)"
	@echo "make kind-node-image  build (or reuse) a kind node image for Kubernetes $(KUBERNETES_VERSION) without a registry"
	@echo "make chaos-mesh build Chaos Mesh from source (cached) and install it on kind cluster $(KIND_CLUSTER)"
	@echo "make kind-host-setup  make kind's privileged containers work on hosts lacking a capability (host-wide Docker change)"
	@echo "make kind-host-restore  undo kind-host-setup"
	@echo "make soak       faultline soak on the local cluster (SOAK_DURATION=$(SOAK_DURATION), SOAK_SEED=$(SOAK_SEED))"
	@echo "make bench      benchmarks: fio on refengine exports vs nbdkit's file plugin, resync, backup and restore throughput vs cp and plain S3 transfers"
	@echo "make bench-memory  RSS of a node serving three volumes under load for 10 minutes (BENCH_MEMORY_DURATION); fails if it grows"
	@echo "make mutation   run each seed and integrity scenario with and without its defect"
	@echo "make mutation-kind  the same on a kind cluster (MUTATION_FLAGS=$(MUTATION_FLAGS))"
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
	cd build/kind-node/tools && $(GO) test -count=1 ./runc-capfix/

race:
	$(GO) test -count=1 -race -short -timeout 20m $(RACE_PKGS)

fuzz:
	@set -e; for spec in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs grep -H '^func Fuzz' | sed -E 's#^\./(.*)/[^/]*_test.go:func (Fuzz[A-Za-z0-9_]*).*#\1:\2#' | sort -u); do \
		pkg=$${spec%%:*}; fn=$${spec##*:}; \
		echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
		GOTOOLCHAIN=$(FUZZ_GOTOOLCHAIN) $(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) ./$$pkg || exit 1; \
	done

test: vet unit race fuzz

e2e-local: build
	$(FAULTLINE) run --cluster local --refengine $(REFENGINE)

# The node image: $FAULTLINE_KIND_IMAGE when set; else kindest/node when a registry hands it out;
# else the one build/kind-node builds from Debian packages and Go modules (cached by its inputs).
# Sets $img in the recipe's shell.
define pick_node_image
img="$${FAULTLINE_KIND_IMAGE:-}"; \
	if [ -z "$$img" ] && { docker image inspect kindest/node:$(KUBERNETES_VERSION) >/dev/null 2>&1 || \
	     timeout 30 docker pull -q kindest/node:$(KUBERNETES_VERSION) >/dev/null 2>&1; }; then \
		img=kindest/node:$(KUBERNETES_VERSION); fi; \
	if [ -z "$$img" ]; then img=$$(KV=$(KUBERNETES_VERSION) OUT=$(KIND_CACHE) bash build/kind-node/build.sh) || exit 2; fi; \
	echo "kind node image: $$img"
endef

e2e: build images
	@$(pick_node_image); \
	$(FAULTLINE) run --cluster kind --kind-node-image "$$img" --kubernetes-version $(KUBERNETES_VERSION) \
		--refengine-image $(REFENGINE_IMAGE) $(E2E_FLAGS)

# make e2e with the faults that are Chaos Mesh objects carried out by Chaos Mesh built from source:
# a smoke run makes the kind cluster and keeps it, make chaos-mesh installs Chaos Mesh on it, then
# the scenarios run with --chaos-executor chaos-mesh (which fails at start if Chaos Mesh is not
# ready). Plain make e2e on a cluster without Chaos Mesh carries the same objects out natively.
e2e-chaos-mesh:
	$(MAKE) e2e E2E_FLAGS="--label-filter smoke --keep-cluster"
	$(MAKE) chaos-mesh
	$(MAKE) e2e E2E_FLAGS="--chaos-executor chaos-mesh $(E2E_FLAGS)"

# What CI runs when Docker is present: smoke and the three seeds on kind, loops at 10 iterations.
kind-smoke:
	$(MAKE) e2e E2E_FLAGS="--label-filter 'smoke || seed' --iterations 10"

images:
	rm -rf $(BIN)/image && mkdir -p $(BIN)/image/tmp
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/image/refengine ./cmd/refengine
	DOCKER_BUILDKIT=0 docker build -q -f images/refengine.Dockerfile -t $(REFENGINE_IMAGE) $(BIN)/image
	@echo "built $(REFENGINE_IMAGE)"

kind-node-image:
	KV=$(KUBERNETES_VERSION) OUT=$(KIND_CACHE) bash build/kind-node/build.sh

# Chaos Mesh from source (build/chaos-mesh): images and rendered manifest cached by their inputs in
# $(CHAOS_MESH_CACHE), installed on the kind cluster $(KIND_CLUSTER).
chaos-mesh:
	@set -e; out=$$(OUT=$(CHAOS_MESH_CACHE) bash build/chaos-mesh/build.sh); \
	CLUSTER=$(KIND_CLUSTER) bash build/chaos-mesh/install.sh $$out

kind-host-setup:
	OUT=$(KIND_CACHE) bash build/kind-node/host-setup.sh

kind-host-restore:
	OUT=$(KIND_CACHE) bash build/kind-node/host-setup.sh restore

soak: build
	$(FAULTLINE) soak --refengine $(REFENGINE) --duration $(SOAK_DURATION) --seed $(SOAK_SEED)

bench: build
	$(GO) run ./cmd/refbench --refengine $(REFENGINE) --repeat $(BENCH_REPEAT) --out $(RUNS)/bench/bench.json

bench-memory: build
	$(GO) run ./cmd/refbench --refengine $(REFENGINE) --only memory --memory-duration $(BENCH_MEMORY_DURATION) --out $(RUNS)/bench/memory.json

mutation: build
	$(FAULTLINE) mutation --refengine $(REFENGINE)

# The mutation matrix on kind: every run deploys refengine afresh on the one kind cluster
# $(KIND_CLUSTER), kept between runs and afterwards (kind delete cluster --name $(KIND_CLUSTER)).
# MUTATION_FLAGS, e.g. --chaos-executor chaos-mesh on a cluster with Chaos Mesh.
mutation-kind: build images
	@$(pick_node_image); \
	$(FAULTLINE) mutation --cluster kind --kind-name $(KIND_CLUSTER) --kind-node-image "$$img" \
		--kubernetes-version $(KUBERNETES_VERSION) --refengine-image $(REFENGINE_IMAGE) $(MUTATION_FLAGS)

report:
	@test -n "$(DIR)" || (echo "usage: make report DIR=runs/<id>" >&2; exit 2)
	$(GO) run ./cmd/faultline report $(DIR)

clean:
	rm -rf $(BIN) $(RUNS)
