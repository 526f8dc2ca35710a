"""The tests' helpers, one module per topic, imported as ``faqtest.<topic>`` (tests/ is on
pytest's pythonpath; the benches put it on sys.path). Test modules never import each other or a
conftest: what two test files share lives here.

common      repo paths, ci/versions.env, bad request bodies, slow clients, git worktrees
chart       helm template/lint runners and accessors for rendered manifests
monitoring  PrometheusRule / dashboard readers, promtool and kubeconform with the CRD schemas
signing     keys and forged models for the signing tests
oci         pushing an image directory to the test registry
runner      the simulation of a GitHub runner that runs pr.yaml's steps
kube        kubectl for the local cluster, waits, HTTP through a port-forward
lifecycle   helm against the local cluster, continuous load, local image references
autoscale   the HPA scale-out/in scenario shared by a test and a bench
"""
