"""Render tests of issue 18's chart items: the hard anti-affinity spares batch pods, the lease
sidecar writes only leases, the helm-test way through the NetworkPolicy lives only while
`helm test` runs, and the HTTP deadlines reach the app."""

from faqtest.chart import container, env


def _selects(selector: dict, labels: dict) -> bool:
    assert not selector.get("matchExpressions"), "evaluator knows matchLabels only"
    return all(labels.get(k) == v for k, v in selector["matchLabels"].items())


def test_hard_anti_affinity_repels_server_pods_only(render):
    """A required anti-affinity is symmetric: a term matching the batch pods would keep a Job
    Pending on every node that runs a server pod (issue 18 item 11)."""
    m = render(sets=["podAntiAffinityPreset=hard", "batch.enabled=true", "canary.enabled=true"])
    job = m.one("Job")["spec"]["template"]["metadata"]["labels"]
    for dep in m.kind("Deployment"):
        tmpl = dep["spec"]["template"]
        terms = tmpl["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert len(terms) == 1 and terms[0]["topologyKey"] == "kubernetes.io/hostname"
        assert _selects(terms[0]["labelSelector"], tmpl["metadata"]["labels"])  # server pods
        assert not _selects(terms[0]["labelSelector"], job), (terms, job)  # not the batch pods
    soft = render(sets=["batch.enabled=true"]).pod["affinity"]["podAntiAffinity"]
    term = soft["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
    assert not _selects(term["labelSelector"], job)


def test_lease_sidecar_can_write_leases_only(render):
    """The model-lease sidecar runs for the pod's whole life: it mounts the volume's leases
    directory alone, never the versions or the link (issue 18, also noted)."""
    m = render(sets=["model.volume.type=pvc"])
    init = container(m.pod, "model", True)
    target = env(init)["MODEL_TARGET"]
    lease = container(m.pod, "model-lease", True)
    assert env(lease)["MODEL_TARGET"] == target
    assert lease["volumeMounts"] == [{"name": "model", "mountPath": f"{target}/.leases",
                                      "subPath": ".leases"}]
    # The copy (init container) still gets the whole volume; the app reads it read-only.
    assert {"name": "model", "mountPath": target} in init["volumeMounts"]


PEER = {"namespaceSelector": {"matchLabels": {"team": "web"}}}


def test_helm_test_exception_lives_only_while_helm_test_runs(render):
    """A pod that copies the test pod's labels must not get a lasting way through a restricted
    NetworkPolicy (issue 18, also noted): the exception is a test hook of its own, created before
    the test pod and deleted once the tests passed."""
    m = render(values={"networkPolicy": {"enabled": True, "from": [PEER]}})
    main = m.one("NetworkPolicy", "rel-faq-engine")
    assert "annotations" not in main["metadata"]
    test_pod = m.test_pod["metadata"]
    for rule in main["spec"]["ingress"]:  # the release's own policy never admits it
        assert not any("podSelector" in peer and _selects(peer["podSelector"], test_pod["labels"])
                       for peer in rule["from"])
    hook = m.one("NetworkPolicy", "rel-faq-engine-helm-test")
    ann = hook["metadata"]["annotations"]
    assert ann["helm.sh/hook"] == "test" == test_pod["annotations"]["helm.sh/hook"]
    assert int(ann["helm.sh/hook-weight"]) < int(test_pod["annotations"].get("helm.sh/hook-weight", 0))
    assert set(ann["helm.sh/hook-delete-policy"].split(",")) == {"before-hook-creation",
                                                                  "hook-succeeded"}
    (rule,) = hook["spec"]["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert [_selects(p["podSelector"], test_pod["labels"]) for p in rule["from"]] == [True]
    assert _selects(hook["spec"]["podSelector"], m.deployment["spec"]["template"]["metadata"]["labels"])
    # Nothing to open when every source is allowed, or when there is no test pod.
    assert len(render(sets=["networkPolicy.enabled=true"]).kind("NetworkPolicy")) == 1
    off = render(values={"networkPolicy": {"enabled": True, "from": [PEER]}, "tests": {"enabled": False}})
    assert len(off.kind("NetworkPolicy")) == 1


def test_http_deadlines_reach_the_app(render):
    data = render(sets=["gunicorn.requestTimeout=7", "gunicorn.writeTimeout=9",
                        "gunicorn.maxClientConnections=0"]).one("ConfigMap")["data"]
    assert (data["GUNICORN_REQUEST_TIMEOUT"], data["GUNICORN_WRITE_TIMEOUT"],
            data["GUNICORN_MAX_CLIENT_CONNECTIONS"]) == ("7", "9", "0")


def test_bad_deadline_values_are_refused_naming_the_key(render_error):
    for key, bad in (("requestTimeout", 0), ("writeTimeout", -1), ("maxClientConnections", -1)):
        err = render_error(values={"gunicorn": {key: bad}})
        assert key in err, err
