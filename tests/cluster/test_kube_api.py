"""faqtest.kubeapi answers ``Kubectl.json("get", ...)`` as kubectl would: the same JSON for each
form it takes, kubectl's error for a missing object, kubectl itself for any other form."""

from __future__ import annotations

import pytest
from faqtest.kube import KubectlError, RESTRICTED_NAMESPACE_LABELS, unique_name
from faqtest.kubeapi import ApiReader, kubectl_get_json, parse_get


@pytest.fixture(scope="module")
def namespace(kubectl):
    ns = unique_name("faq-api")
    kubectl.apply({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": ns, "labels": RESTRICTED_NAMESPACE_LABELS}})
    for name, tier in (("one", "a"), ("two", "b")):
        kubectl.apply({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": name, "namespace": ns, "labels": {"tier": tier}},
                       "data": {"k": name}})
    yield ns
    kubectl("delete", "namespace", ns, "--wait=false", check=False)


FORMS = [
    (("get", "configmaps"), True),
    (("get", "cm", "-l", "tier=a"), True),
    (("get", "configmap", "--selector=tier in (a,b)"), True),
    (("get", "configmaps", "--field-selector", "metadata.name=two"), True),
    (("get", "configmap", "one"), True),
    (("get", "configmap/two"), True),
    (("get", "nodes"), False),
    (("get", "storageclass"), False),
    (("get", "apiservice", "v1beta1.metrics.k8s.io"), False),
    (("get", "namespaces", "-l", "kubernetes.io/metadata.name=default"), False),
]


@pytest.mark.parametrize("args, namespaced", FORMS, ids=lambda v: " ".join(v) if isinstance(v, tuple) else None)
def test_the_api_answers_as_kubectl_prints(kubectl, namespace, args, namespaced):
    ns = namespace if namespaced else None
    api = ApiReader(kubectl.kubeconfig).get(args, ns, timeout=30)
    assert api is not None, f"{args}: not answered by the API"
    want = kubectl_get_json(kubectl.binary, kubectl.kubeconfig, args, ns)
    for obj in (api, want):  # what changes between two reads of a node or the API service
        for item in obj.get("items", [obj]):
            item.get("metadata", {}).pop("resourceVersion", None)
            item.pop("status", None) if item.get("kind") in ("Node", "APIService") else None
    assert api == want


def test_a_missing_object_fails_as_kubectl_does(kubectl, namespace):
    with pytest.raises(KubectlError) as via_api:
        kubectl.json("get", "configmap", "nope", namespace=namespace)
    via_kubectl = kubectl("get", "configmap", "nope", "-o", "json", namespace=namespace,
                          check=False)
    assert via_kubectl.returncode != 0
    assert via_api.value.proc.stderr.strip() == via_kubectl.stderr.strip()


@pytest.mark.parametrize("args", [("get", "pods", "-A"), ("get", "pods", "-o", "wide"),
                                  ("get", "deployments.apps"), ("get", "widgets"),
                                  ("get", "pod", "a", "-l", "x=y"), ("describe", "pod", "a"),
                                  ("get", "pod", "a", "b")])
def test_other_forms_are_left_to_kubectl(args):
    assert parse_get(args) is None


def test_a_kubeconfig_it_does_not_know_is_left_to_kubectl(tmp_path):
    cfg = tmp_path / "kubeconfig"
    cfg.write_text("apiVersion: v1\nkind: Config\ncurrent-context: c\n"
                   "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
                   "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:6443',"
                   " certificate-authority-data: eA==}}]\n"
                   "users: [{name: u, user: {token: secret}}]\n")
    assert ApiReader(str(cfg)).get(("get", "pods"), "default", timeout=5) is None
