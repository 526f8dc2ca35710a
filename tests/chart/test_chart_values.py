"""values.schema.json: bad values are rejected with a message naming the key; good ones pass."""

from __future__ import annotations

import re

import pytest

from faqtest.chart import CHART

DIGEST = "sha256:" + "0f" * 32


@pytest.mark.parametrize("values, key", [
    ({"model": {"volume": {"type": "hostPath"}}}, "/model/volume/type"),
    ({"model": {"volume": {"type": 1}}}, "/model/volume/type"),
    ({"model": {"tag": "1.0:latest"}}, "/model/tag"),
    ({"model": {"tag": "-bad"}}, "/model/tag"),
    ({"model": {"tag": 1.1}}, "/model/tag"),  # an unquoted YAML float would lose digits
    ({"model": {"tag": ""}}, "/model/tag"),  # no tag (a digest goes in the tag)
    ({"image": {"tag": "v1 beta"}}, "/image/tag"),
    ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
    ({"model": {"pullPolicy": "always"}}, "/model/pullPolicy"),
    ({"model": {"repository": "Local/Model"}}, "/model/repository"),
    ({"canary": {"model": {"tag": "a b"}}}, "/canary/model/tag"),
    ({"canary": {"enabled": "yes"}}, "/canary/enabled"),
    ({"canary": {"replicaCount": -1}}, "/canary/replicaCount"),
    ({"replicaCount": -1}, "/replicaCount"),
    ({"replicaCount": "2"}, "/replicaCount"),
    ({"model": {"volume": {"pvc": {"size": "-1Gi"}}}}, "/model/volume/pvc/size"),
    ({"model": {"volume": {"pvc": {"size": -5}}}}, "/model/volume/pvc/size"),
    ({"model": {"volume": {"pvc": {"size": "lots"}}}}, "/model/volume/pvc/size"),
    ({"model": {"volume": {"pvc": {"accessModes": ["ReadWriteSometimes"]}}}},
     "/model/volume/pvc/accessModes/0"),
    ({"model": {"volume": {"emptyDir": {"sizeLimit": "-100Mi"}}}},
     "/model/volume/emptyDir/sizeLimit"),
    ({"model": {"volume": {"emptyDir": {"medium": "HugePages"}}}},
     "/model/volume/emptyDir/medium"),
    ({"model": {"keep": 0}}, "/model/keep"),
    ({"tmpSizeLimit": "-1Mi"}, "/tmpSizeLimit"),
    ({"gunicorn": {"workers": 0}}, "/gunicorn/workers"),
    ({"gunicorn": {"workerConnections": "many"}}, "/gunicorn/workerConnections"),
    ({"gunicorn": {"timeout": -1}}, "/gunicorn/timeout"),
    ({"terminationGracePeriodSeconds": -1}, "/terminationGracePeriodSeconds"),
    ({"containerPort": 70000}, "/containerPort"),
    ({"service": {"port": 0}}, "/service/port"),
    ({"service": {"type": "ExternalName"}}, "/service/type"),
    ({"logLevel": "LOUD"}, "/logLevel"),
    ({"imagePullSecrets": ["regcred"]}, "/imagePullSecrets/0"),
    ({"ingress": {"hosts": [{"host": "a", "paths": [{"path": "x", "pathType": "Prefix"}]}]}},
     "/ingress/hosts/0/paths/0/path"),
    ({"autoscaling": {"minReplicas": 0}}, "/autoscaling/minReplicas"),
    ({"pdb": {"maxUnavailable": "half"}}, "/pdb/maxUnavailable"),
    ({"pdb": {"unhealthyPodEvictionPolicy": "Never"}}, "/pdb/unhealthyPodEvictionPolicy"),
    ({"serviceMonitor": {"interval": "often"}}, "/serviceMonitor/interval"),
    ({"podAnnotations": {"a": 1}}, "/podAnnotations/a"),
    ({"resources": "small"}, "/resources"),
    ({"extraEnv": {"A": "b"}}, "/extraEnv"),
])
def test_bad_value_rejected_naming_the_key(render_error, values, key):
    err = render_error(values=values)
    assert "values don't meet the specifications of the schema" in err, err
    assert f"'{key}'" in err, f"{key} not named in:\n{err}"


def test_memory_medium_needs_a_size_limit(render_error):
    """A tmpfs without sizeLimit is as large as the node's memory: the chart cannot size the
    memory limits that must hold it."""
    err = render_error(values={"model": {"volume": {"emptyDir": {"sizeLimit": None,
                                                                 "medium": "Memory"}}}})
    assert "/model/volume/emptyDir" in err and "sizeLimit" in err, err


@pytest.mark.parametrize("values, key", [
    ({"modle": {"tag": "1.1"}}, "modle"),  # typo at the top level
    ({"model": {"version": "1.1"}}, "version"),
    ({"model": {"volume": {"kind": "pvc"}}}, "kind"),
    ({"model": {"volume": {"pvc": {"storageClassName": "x"}}}}, "storageClassName"),
    ({"image": {"registry": "docker.io"}}, "registry"),
    ({"canary": {"replicas": 2}}, "replicas"),
    ({"gunicorn": {"worker": 2}}, "worker"),
    ({"service": {"targetPort": 80}}, "targetPort"),
    ({"tests": {"expected": "1.0"}}, "expected"),
])
def test_unknown_key_rejected(render_error, values, key):
    err = render_error(values=values)
    assert re.search(rf"additional properties '{key}' not allowed", err), err


def test_set_string_type_errors_name_the_key(render_error):
    err = render_error(set_strings=["replicaCount=3"])
    assert "'/replicaCount'" in err


@pytest.mark.parametrize("values", [
    {"model": {"tag": "1.1"}},
    {"model": {"tag": 2}},  # `--set model.tag=2` yields an integer
    {"model": {"tag": f"@{DIGEST}"}},
    {"model": {"tag": f"1.0@{DIGEST}"}, "image": {"tag": f"1.0.0-rc.1_x@{DIGEST}"}},
    {"model": {"repository": "registry.example.com:5000/ml/faq-engine-model"}},
    {"model": {"volume": {"type": "pvc", "pvc": {"size": "500M"}}}},
    {"model": {"volume": {"emptyDir": {"sizeLimit": None}}}},
    {"model": {"volume": {"emptyDir": {"sizeLimit": "300Mi", "medium": "Memory"}}}},
    {"pdb": {"maxUnavailable": "25%", "minAvailable": None}},
    {"pdb": {"minAvailable": 1}},
    {"canary": {"enabled": True, "model": {"tag": "1.1"}}},
    {"global": {"imageRegistry": "ignored"}},  # used as a subchart
])
def test_good_values_accepted(render, values):
    render(values=values)


def test_set_model_tag_from_the_command_line(render):
    # The documented upgrade: `helm upgrade --set model.tag=1.1`.
    render(sets=["model.tag=1.1"])
    render(sets=["model.tag=2"])


def test_values_yaml_documents_every_key():
    """Every key has a `# --` helm-docs comment, unless it is a plain map of keys (which are
    checked in turn) or an ancestor documents it as a whole."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    keyline = re.compile(r"^( *)([A-Za-z0-9_]+):(.*)$")
    missing, stack, comment = [], [], []  # stack of (indent, key, documented)
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("#"):
            comment.append(stripped)
            continue
        m = keyline.match(line)
        if not m:
            comment = []
            continue
        indent, key, rest = len(m.group(1)), m.group(2), m.group(3).strip()
        while stack and stack[-1][0] >= indent:
            stack.pop()
        documented = any(c.startswith("# --") for c in comment)
        covered = any(doc for _, _, doc in stack)
        nxt = next((x for x in lines[i + 1:] if x.strip() and not x.strip().startswith("#")), "")
        nm = keyline.match(nxt)
        is_map = not rest and nm is not None and len(nm.group(1)) > indent
        if not (documented or covered or is_map):
            missing.append(".".join([k for _, k, _ in stack] + [key]))
        stack.append((indent, key, documented))
        comment = []
    assert not missing, f"values.yaml keys without a `# --` comment: {missing}"
