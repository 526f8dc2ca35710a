"""Render tests of the HorizontalPodAutoscaler's behavior value (short windows, schema)."""

from __future__ import annotations

import re

import pytest

SHORT = {"scaleUp": {"stabilizationWindowSeconds": 0,
                     "policies": [{"type": "Pods", "value": 2, "periodSeconds": 15}]},
         "scaleDown": {"stabilizationWindowSeconds": 15, "selectPolicy": "Max",
                       "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}}


def test_behavior_reaches_the_hpa(render):
    m = render(values={"autoscaling": {"enabled": True, "minReplicas": 1, "maxReplicas": 3,
                                       "behavior": SHORT}})
    hpa = m.one("HorizontalPodAutoscaler")
    assert hpa["spec"]["behavior"] == SHORT
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 3)
    assert hpa["spec"]["metrics"][0]["resource"]["target"] == {"type": "Utilization",
                                                               "averageUtilization": 75}
    # the CPU target is a share of the request, so the app container must have one
    assert m.app["resources"]["requests"]["cpu"] == "100m"


def test_no_behavior_by_default(render):
    hpa = render(sets=["autoscaling.enabled=true"]).one("HorizontalPodAutoscaler")
    assert "behavior" not in hpa["spec"]


@pytest.mark.parametrize("behavior, key", [
    ({"scaleDown": {"stabilizationWindowSeconds": -1}},
     "/autoscaling/behavior/scaleDown/stabilizationWindowSeconds"),
    ({"scaleDown": {"stabilizationWindowSeconds": 7200}},
     "/autoscaling/behavior/scaleDown/stabilizationWindowSeconds"),
    ({"scaleUp": {"policies": [{"type": "Nodes", "value": 1, "periodSeconds": 15}]}},
     "/autoscaling/behavior/scaleUp/policies/0/type"),
    ({"scaleUp": {"policies": [{"type": "Pods", "value": 0, "periodSeconds": 15}]}},
     "/autoscaling/behavior/scaleUp/policies/0/value"),
    ({"scaleUp": {"selectPolicy": "Sometimes"}}, "/autoscaling/behavior/scaleUp/selectPolicy"),
])
def test_bad_behavior_rejected_naming_the_key(render_error, behavior, key):
    err = render_error(values={"autoscaling": {"enabled": True, "behavior": behavior}})
    assert f"'{key}'" in err, err


def test_unknown_behavior_key_rejected(render_error):
    err = render_error(values={"autoscaling": {"behavior": {"scaleSideways": {}}}})
    assert re.search(r"additional properties 'scaleSideways' not allowed", err), err
