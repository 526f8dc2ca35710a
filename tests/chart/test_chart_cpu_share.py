"""The app and batch containers learn their CPU limit through the downward API
(CPU_LIMIT_MILLICORES, limits.cpu in millicores), from which the app gives numpy's BLAS each
gunicorn worker's share; extraEnv still comes after it."""

from __future__ import annotations

from faqtest.chart import container

EXPECTED = {"name": "CPU_LIMIT_MILLICORES",
            "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}}}


def cpu_env(c: dict, name: str) -> dict:
    env = [e for e in c.get("env") or [] if e["name"] == "CPU_LIMIT_MILLICORES"]
    assert len(env) == 1, c.get("env")
    ref = env[0]["valueFrom"]["resourceFieldRef"]
    assert ref.pop("containerName") == name
    return env[0]


def test_app_container_gets_its_cpu_limit(render):
    m = render(sets=["resources.limits.cpu=1500m", "extraEnv[0].name=NUMERIC_THREADS"],
               set_strings=["extraEnv[0].value=2"])
    app = m.app
    assert cpu_env(app, "app") == EXPECTED
    assert app["env"][-1] == {"name": "NUMERIC_THREADS", "value": "2"}
    assert app["resources"]["limits"]["cpu"] == "1500m"


def test_batch_container_gets_its_cpu_limit(render):
    m = render(sets=["batch.enabled=true"])
    batch = container(m.one("Job")["spec"]["template"]["spec"], "batch")
    assert cpu_env(batch, "batch") == EXPECTED
