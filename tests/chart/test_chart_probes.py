"""Render tests of probes, graceful shutdown, lifecycle hooks and the app's settings in env."""

from __future__ import annotations

import pytest

from faqtest.chart import container, env


def test_default_probes(render):
    app = render().app
    assert app["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    start = app["startupProbe"]
    assert start["periodSeconds"] * start["failureThreshold"] >= 120  # covers model load
    assert app["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert app["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_probes_overridable(render):
    app = render(values={
        "startupProbe": {"failureThreshold": 300, "periodSeconds": 1},
        "readinessProbe": {"httpGet": None, "exec": {"command": ["true"]}},
        "livenessProbe": None,
    }).app
    assert app["startupProbe"]["failureThreshold"] == 300
    assert app["startupProbe"]["periodSeconds"] == 1
    assert app["readinessProbe"] == {"exec": {"command": ["true"]}, "failureThreshold": 2,
                                     "periodSeconds": 5, "timeoutSeconds": 2}
    assert "livenessProbe" not in app


def test_rolling_update_and_graceful_shutdown(render):
    m = render()
    spec = m.deployment["spec"]
    assert spec["strategy"] == {"type": "RollingUpdate",
                                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    pod = m.pod
    grace = pod["terminationGracePeriodSeconds"]
    # the kubelet's own sleep action: the app image needs no `sleep` binary for it
    pause = m.app["lifecycle"]["preStop"]["sleep"]["seconds"]
    graceful = int(m.one("ConfigMap")["data"]["GUNICORN_GRACEFUL_TIMEOUT"])
    assert pause > 0 and graceful < grace - pause


def test_lifecycle_and_grace_configurable(render):
    m = render(values={"lifecycle": {"preStop": {"sleep": None,
                                                 "exec": {"command": ["sleep", "3"]}}},
                       "terminationGracePeriodSeconds": 90,
                       "gunicorn": {"gracefulTimeout": 60}})
    assert m.app["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "3"]
    assert m.pod["terminationGracePeriodSeconds"] == 90
    assert "sleep" not in m.app["lifecycle"]["preStop"]


def test_a_second_prestop_handler_fails_naming_the_default(render_error):
    """Helm merges a user's exec hook into the default sleep action: Kubernetes would refuse a
    hook with two handlers, so the chart says which key to clear."""
    err = render_error(values={"lifecycle": {"preStop": {"exec": {"command": ["/drain"]}}}})
    assert "lifecycle.preStop" in err and "sleep=null" in err, err


def test_graceful_timeout_must_fit_in_grace_period(render_error):
    err = render_error(sets=["gunicorn.gracefulTimeout=40", "terminationGracePeriodSeconds=40"])
    assert "gunicorn.gracefulTimeout" in err


@pytest.mark.parametrize("values, numbers", [
    # The case: 35 s drain + 10 s default pause do not fit a 40 s grace period.
    ({"gunicorn": {"gracefulTimeout": 35}}, "(35 s)"),
    ({"gunicorn": {"gracefulTimeout": 30}}, "(30 s)"),  # 30 + 10 = 40: no time left to exit
    ({"lifecycle": {"preStop": {"sleep": {"seconds": 20}}}}, "(20 s)"),  # native sleep action
    ({"terminationGracePeriodSeconds": 30}, "(30 s)"),
])
def test_prestop_pause_plus_graceful_timeout_must_fit_in_grace_period(render_error, values,
                                                                       numbers):
    err = render_error(values=values)
    for key in ("gunicorn.gracefulTimeout", "lifecycle.preStop", "terminationGracePeriodSeconds"):
        assert key in err, err
    assert numbers in err, err


@pytest.mark.parametrize("values", [
    {"gunicorn": {"gracefulTimeout": 29}},  # 29 + 10 < 40
    {"lifecycle": {"preStop": {"sleep": {"seconds": 14}}}},  # 14 + 25 < 40
    {"lifecycle": None, "gunicorn": {"gracefulTimeout": 39}},  # no pause at all
    {"lifecycle": {"preStop": {"sleep": None, "exec": {"command": ["/bin/drain-hook"]}}},
     "gunicorn": {"gracefulTimeout": 39}},  # an exec hook's length is unknown: counted as 0
])
def test_prestop_pause_plus_graceful_timeout_that_fit_render(render, values):
    render(values=values)


def test_gunicorn_settings_reach_the_env(render):
    data = render(sets=["gunicorn.workers=5", "gunicorn.workerConnections=300", "gunicorn.timeout=61",
                        "gunicorn.gracefulTimeout=17", "logLevel=WARNING",
                        "containerPort=9000"]).one("ConfigMap")["data"]
    assert data == {"MODEL_DIR": "/models/current", "HOST": "0.0.0.0", "PORT": "9000",
                    "WEB_CONCURRENCY": "5",
                    "GUNICORN_WORKER_CONNECTIONS": "300", "GUNICORN_TIMEOUT": "61",
                    "GUNICORN_GRACEFUL_TIMEOUT": "17", "GUNICORN_REQUEST_TIMEOUT": "10",
                    "GUNICORN_WRITE_TIMEOUT": "10", "GUNICORN_MAX_CLIENT_CONNECTIONS": "200",
                    "LOG_LEVEL": "WARNING"}


def test_retired_gunicorn_threads_fails_naming_the_key(render_error):
    """The gevent worker never read GUNICORN_THREADS, yet changing it rolled every pod."""
    err = render_error(sets=["gunicorn.threads=4"])
    assert "gunicorn.threads is retired" in err and "gunicorn.workerConnections" in err, err


def test_model_init_env(render):
    init = container(render(sets=["model.keep=5", "model.forceVerify=true"]).pod, "model", True)
    assert env(init)["MODEL_KEEP"] == "5" and env(init)["MODEL_FORCE_VERIFY"] == "1"
