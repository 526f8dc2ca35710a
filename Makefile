# faq-engine: the one entry point for people, .ci/run and the workflows.
#   make up     fresh machine -> local cluster, images, chart installed, a question answered
#   make test   every test (unit, images, chart, CI tooling, cluster lifecycle)
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
WITH_ENV := ci/with-env
PYTEST_ARGS ?=

.PHONY: help setup venv tools images cluster-up cluster-down up uninstall down test test-app test-images \
        test-chart test-ci test-cluster lint chart-docs bench

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

setup: ## host packages and podman settings (apt; needs root): images, cluster, bench only
	bash ci/setup-host.sh

venv: ## the pinned Python venv (pip only, no root), cached outside the repo
	bash ci/python-env.sh >/dev/null

tools: venv ## plus the pinned Go tools (go only, no root), cached outside the repo
	bash ci/go-tools.sh >/dev/null
	bash ci/checkov-env.sh >/dev/null

images: setup ## build the app image and model images 1.0 and 1.1 (podman)
	bash ci/images/build.sh

cluster-up: setup ## local one-node Kubernetes (builds it the first time)
	bash ci/cluster/up.sh

cluster-down: ## stop the local cluster (keeps binaries and images)
	bash ci/cluster/down.sh

up: setup tools ## the main job: cluster, images, helm upgrade --install, helm test (MODEL_TAG=2.0: the embedding model)
	$(WITH_ENV) bash ci/up.sh $(if $(MODEL_TAG),--set model.tag=$(MODEL_TAG))

uninstall: ## uninstall the release from its namespace (RELEASE, NAMESPACE as for up)
	$(WITH_ENV) bash ci/up.sh --uninstall

down: uninstall ## uninstall the release and stop the local cluster
	bash ci/cluster/down.sh

test: setup tools cluster-up ## everything: unit, images, chart, CI tooling, cluster lifecycle
	$(WITH_ENV) pytest $(PYTEST_ARGS)

test-app: venv ## the service: trainer, model directory, API, gunicorn (pip only)
	$(WITH_ENV) --python-only pytest tests/app $(PYTEST_ARGS)

test-images: setup tools ## both images built and run with podman; the entrypoint under sh and dash
	$(WITH_ENV) pytest tests/images $(PYTEST_ARGS)

test-chart: tools ## helm lint, ct lint, kubeconform on every supported minor, kube-score + checkov, render tests, README drift
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
