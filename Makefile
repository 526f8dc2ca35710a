# faq-engine: the one entry point for people, .ci/run and the workflows.
#   make up     fresh machine -> local cluster, images, chart installed, a question answered
#   make test   every test (unit, images, chart, CI tooling, cluster lifecycle)
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
WITH_ENV := ci/with-env
PHASE := ci/phase
PYTEST_ARGS ?=
# `make test` runs its suites side by side: the cluster suite (mostly waiting on rollouts) in
# three lanes of one worker each, the images suite in a fourth, every other test file wherever a
# worker is free (tests/conftest.py groups them). PYTEST_WORKERS=0 runs them one after another.
PYTEST_WORKERS ?= 5
PYTEST_PARALLEL := $(if $(filter-out 0,$(PYTEST_WORKERS)),-n $(PYTEST_WORKERS) --dist loadgroup --no-loadscope-reorder)
# Each step runs through ci/phase, which records its seconds in FAQ_PHASES: one file per `make`
# run under build/phases/ (ignored by git). `make up` and `make test` end with the table of the
# run (cold or on a cache); `ci/phase table FILE` prints any run's again.
ifndef FAQ_PHASES
FAQ_PHASES := $(CURDIR)/build/phases/$(shell date -u +%Y%m%dT%H%M%SZ)-$(or $(firstword $(MAKECMDGOALS)),help).tsv
endif
export FAQ_PHASES

.PHONY: help setup venv helm tools test-tools renovate images cluster-up cluster-down up uninstall \
        down test test-app test-images test-chart test-ci test-cluster lint chart-docs bench

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

setup: ## host packages and podman settings (apt; needs root): images, cluster, bench only
	$(PHASE) setup -- bash ci/setup-host.sh

venv: ## the pinned Python venv (PyPI only, no root: ci/uv.sh fills it), cached outside the repo
	$(PHASE) venv -- bash ci/python-env.sh >/dev/null

helm: ## helm alone: the one Go tool `make up` needs
	$(PHASE) helm --cache bin/helm -- bash ci/go-tools.sh helm >/dev/null

tools: venv ## the tests' tools: the pinned Go tools and checkov's venv, built side by side (no root)
	$(PHASE) checkov -- bash ci/checkov-env.sh >/dev/null & pid=$$!; rc=0; \
	$(PHASE) go-tools -- bash ci/go-tools.sh >/dev/null || rc=$$?; \
	wait $$pid || rc=$$?; exit $$rc

renovate: ## the pinned Renovate and its node (npm, no root), for the CI tests
	$(PHASE) renovate -- bash ci/renovate/install.sh >/dev/null

test-tools: venv ## the tools plus what only the tests use: promtool, cosign, syft (one ci/go-tools.sh: resolved at once, built two at a time), the Prometheus Operator CRD schemas
	$(PHASE) checkov -- bash ci/checkov-env.sh >/dev/null & pid=$$!; rc=0; \
	$(PHASE) go-tools --cache bin/syft -- bash ci/go-tools.sh +promtool +cosign +syft >/dev/null || rc=$$?; \
	wait $$pid || rc=$$?; exit $$rc
	$(PHASE) crd-schemas -- bash ci/crd-schemas.sh >/dev/null

images: setup ## build the app image, Doc2Vec model images 1.0 and 1.1, embedding model 2.0 (podman)
	$(PHASE) images -- bash ci/images/build.sh

cluster-up: setup ## local one-node Kubernetes (builds it the first time)
	$(PHASE) cluster -- bash ci/cluster/up.sh

cluster-down: ## stop the local cluster (keeps binaries and images)
	bash ci/cluster/down.sh

up: setup ## the main job: cluster, images, helm upgrade --install, helm test (MODEL_TAG=2.0: the embedding model; NODES=2: a second node)
	@# the venv (mostly downloads) while helm compiles
	$(MAKE) --no-print-directory -o setup -j2 venv helm
	rc=0; MODEL_TAG=$(MODEL_TAG) NODES=$(NODES) $(WITH_ENV) --tools helm bash ci/up.sh \
	  $(if $(MODEL_TAG),--set model.tag=$(MODEL_TAG)) || rc=$$?; $(PHASE) table; exit $$rc

uninstall: ## uninstall the release from its namespace (RELEASE, NAMESPACE as for up)
	$(WITH_ENV) bash ci/up.sh --uninstall

down: uninstall ## uninstall the release and stop the local cluster
	bash ci/cluster/down.sh

test: setup venv ## everything: unit, images, chart, CI tooling, cluster lifecycle
	@# the tests' tools (Go builds, pip, npm) while the cluster comes up
	$(MAKE) --no-print-directory -o setup -o venv -j3 test-tools renovate cluster-up
	rc=0; $(PHASE) pytest -- $(WITH_ENV) pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS) || rc=$$?; \
	$(PHASE) prune -- bash ci/images/prune.sh || echo "warning: ci/images/prune.sh failed" >&2; \
	$(PHASE) table; exit $$rc

test-app: venv ## the service: trainer, model directory, API, gunicorn (PyPI only)
	$(WITH_ENV) --python-only pytest tests/app $(PYTEST_ARGS)

test-images: setup tools ## both images built and run with podman; the entrypoint under sh and dash
	$(WITH_ENV) pytest tests/images $(PYTEST_ARGS)

test-chart: test-tools ## helm lint, ct lint, kubeconform on every supported minor, kube-score + checkov, render tests, README drift (FAQ_HELM=helm3: with Helm 3)
	$(WITH_ENV) pytest tests/chart $(PYTEST_ARGS)

test-ci: tools ## bump-tags and the workflows (actionlint)
	$(WITH_ENV) pytest tests/ci $(PYTEST_ARGS)

test-cluster: setup tools cluster-up ## the lifecycle on the local cluster (or FAQ_CLUSTER=existing)
	$(WITH_ENV) pytest tests/cluster $(PYTEST_ARGS)

lint: tools ## ruff, yamllint, ct lint
	$(WITH_ENV) ruff check app tests ci bench
	$(WITH_ENV) yamllint --strict .github chart/ci chart/values.yaml .yamllint
	$(WITH_ENV) ct lint --config ci/ct/ct.yaml --charts chart --validate-maintainers=false

chart-docs: tools ## regenerate chart/README.md from values.yaml
	$(WITH_ENV) helm-docs --chart-search-root chart --skip-version-footer

bench: setup tools images cluster-up ## every benchmark in bench/ (prints ratios; see the README)
	$(WITH_ENV) bash bench/run-all.sh
