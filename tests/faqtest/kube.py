"""Helpers for tests against a Kubernetes cluster: a kubectl wrapper, pod and Service helpers.

Imported by tests/cluster/conftest.py (fixtures) and by tests directly:
``from faqtest.kube import Kubectl, PodResult, http_get, unique_name, wait_for``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from faqtest.common import ci_setting, go_cli_env
from faqtest.kubeapi import ApiError, ApiReader

REPO = Path(__file__).resolve().parents[2]
CLUSTER_SCRIPTS = REPO / "ci" / "cluster"


FAQ_CACHE = Path(os.environ.get("FAQ_CACHE") or Path.home() / ".cache" / "faq-engine")
LOCAL_KUBECONFIG = FAQ_CACHE / "cluster" / "kubeconfig"
BUSYBOX_IMAGE = ci_setting("ALPINE_BASE")

#: Pod- and container-level securityContext that satisfy the "restricted" Pod Security Standard.
RESTRICTED_POD_SECURITY: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "runAsGroup": 10001,
    "fsGroup": 10001,
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESTRICTED_CONTAINER_SECURITY: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
}


#: Labels that make Pod Security admission enforce (and warn/audit) the "restricted" profile.
RESTRICTED_NAMESPACE_LABELS: dict[str, str] = {
    **{f"pod-security.kubernetes.io/{m}": "restricted" for m in ("enforce", "warn", "audit")},
    "pod-security.kubernetes.io/enforce-version": "latest",
}


def unique_name(prefix: str) -> str:
    """A DNS-1123 name: ``prefix-<8 hex>``."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    """Poll ``predicate`` until it returns something truthy; return it, or fail after timeout."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - reported if we time out
            last_error = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error})" if last_error else ""
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)


class KubectlError(AssertionError):
    """kubectl exited non-zero; the message carries its command line and stderr."""

    def __init__(self, proc: subprocess.CompletedProcess):
        self.proc = proc
        super().__init__(
            f"`{' '.join(proc.args)}` exited {proc.returncode}:\n{proc.stderr.strip()}"
        )


@dataclass
class PodResult:
    name: str
    phase: str
    exit_code: int | None
    logs: str


class Kubectl:
    """A small kubectl wrapper bound to one kubeconfig."""

    def __init__(self, binary: str, kubeconfig: str):
        self.binary = binary
        self.kubeconfig = kubeconfig
        self.api = ApiReader(kubeconfig)

    # -- basics -----------------------------------------------------------------------------
    def __call__(
        self,
        *args: str,
        namespace: str | None = None,
        input: str | None = None,
        check: bool = True,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess:
        cmd = [self.binary, "--kubeconfig", self.kubeconfig]
        if namespace:
            cmd += ["--namespace", namespace]
        cmd += list(args)
        try:
            proc = subprocess.run(cmd, input=input, capture_output=True, text=True,
                                  timeout=timeout, env=go_cli_env())
        except subprocess.TimeoutExpired:
            pytest.fail(f"`{' '.join(cmd)}` did not finish within {timeout}s")
        if check and proc.returncode != 0:
            raise KubectlError(proc)
        return proc

    def exists(self, resource: str, name: str, namespace: str | None = None) -> bool:
        """Whether ``kubectl get RESOURCE NAME`` finds it (False also when the API is down)."""
        try:
            self.json("get", resource, name, namespace=namespace)
        except KubectlError:
            return False
        return True

    def json(self, *args: str, namespace: str | None = None, timeout: float = 60) -> Any:
        """``kubectl get ... -o json`` (or any command given ``-o json``-able args), parsed.
        The common ``get`` forms are asked of the API server directly (faqtest.kubeapi: the
        same output and errors, without a kubectl process per poll)."""
        try:
            got = self.api.get(args, namespace, timeout)
        except ApiError as e:
            cmd = [self.binary, "--kubeconfig", self.kubeconfig,
                   *(["--namespace", namespace] if namespace else []), *args, "-o", "json"]
            raise KubectlError(subprocess.CompletedProcess(cmd, 1, "", e.stderr)) from None
        except TimeoutError:
            pytest.fail(f"`kubectl {' '.join(args)} -o json` (API) did not answer within {timeout}s")
        if got is not None:
            return got
        out = self(*args, "-o", "json", namespace=namespace, timeout=timeout).stdout
        return json.loads(out)

    def apply(
        self,
        manifest: dict | list | str,
        namespace: str | None = None,
        check: bool = True,
        server_side: bool = False,
    ) -> subprocess.CompletedProcess:
        """Apply one object, a list of objects, or YAML/JSON text."""
        if isinstance(manifest, dict):
            text = json.dumps(manifest)
        elif isinstance(manifest, list):
            text = json.dumps({"apiVersion": "v1", "kind": "List", "items": manifest})
        else:
            text = manifest
        args = ["apply", "-f", "-"] + (["--server-side"] if server_side else [])
        return self(*args, namespace=namespace, input=text, check=check)

    def wait_for(
        self, predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.5
    ) -> Any:
        return wait_for(predicate, timeout, what, interval)

    def create_namespace(
        self,
        prefix: str = "faq-t",
        labels: dict[str, str] | None = None,
        restricted: bool = False,
    ) -> str:
        """Create a uniquely named namespace (``restricted`` adds the Pod Security labels) and
        wait for its default ServiceAccount, without which pods are refused. The caller deletes
        it (``kubectl("delete", "namespace", name, "--wait=false")``)."""
        name = unique_name(prefix)
        all_labels = {**(RESTRICTED_NAMESPACE_LABELS if restricted else {}), **(labels or {})}
        self.apply(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": name, "labels": all_labels},
            }
        )
        self.wait_for(lambda: self.exists("serviceaccount", "default", namespace=name), 60,
                      f"the default ServiceAccount in {name}")
        return name

    def events(self, namespace: str) -> str:
        """Recent events of a namespace as text (for failure messages)."""
        proc = self("get", "events", "--sort-by=.lastTimestamp", namespace=namespace, check=False)
        return proc.stdout + proc.stderr

    def describe(self, kind_name: str, namespace: str) -> str:
        proc = self("describe", kind_name, namespace=namespace, check=False)
        return proc.stdout + proc.stderr

    # -- pods -------------------------------------------------------------------------------
    def wait_pod_ready(self, namespace: str, name: str, timeout: float = 120) -> None:
        proc = self(
            "wait",
            "--for=condition=Ready",
            f"pod/{name}",
            f"--timeout={int(timeout)}s",
            namespace=namespace,
            check=False,
            timeout=timeout + 30,
        )
        if proc.returncode != 0:
            pytest.fail(
                f"pod {namespace}/{name} not Ready within {timeout}s: {proc.stderr.strip()}\n"
                + self.describe(f"pod/{name}", namespace)
            )

    @staticmethod
    def pod_manifest(
        name: str,
        command: list[str] | str,
        image: str = BUSYBOX_IMAGE,
        *,
        labels: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
        volumes: list[dict] | None = None,
        volume_mounts: list[dict] | None = None,
        restart_policy: str = "Never",
        ports: list[dict] | None = None,
        readiness_probe: dict | None = None,
        pod_security: dict | None = None,
        container_security: dict | None = None,
    ) -> dict:
        """A one-container Pod that passes the restricted Pod Security Standard by default.

        ``command`` is an argv list, or a string run with ``sh -c``.
        """
        argv = ["sh", "-c", command] if isinstance(command, str) else list(command)
        container: dict[str, Any] = {
            "name": "main",
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "command": argv,
            "securityContext": container_security
            if container_security is not None
            else RESTRICTED_CONTAINER_SECURITY,
        }
        if env:
            container["env"] = [{"name": k, "value": v} for k, v in env.items()]
        if volume_mounts:
            container["volumeMounts"] = volume_mounts
        if ports:
            container["ports"] = ports
        if readiness_probe:
            container["readinessProbe"] = readiness_probe
        spec: dict[str, Any] = {
            "restartPolicy": restart_policy,
            "terminationGracePeriodSeconds": 1,
            "automountServiceAccountToken": False,
            "securityContext": pod_security
            if pod_security is not None
            else RESTRICTED_POD_SECURITY,
            "containers": [container],
        }
        if volumes:
            spec["volumes"] = volumes
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {}},
            "spec": spec,
        }

    def run_pod(
        self,
        namespace: str,
        command: list[str] | str,
        image: str = BUSYBOX_IMAGE,
        *,
        name: str | None = None,
        timeout: float = 120,
        check: bool = True,
        keep: bool = False,
        **manifest_kwargs: Any,
    ) -> PodResult:
        """Run a short-lived pod to completion and return its phase, exit code and logs.

        With ``check`` a pod that does not succeed fails the test (logs and events included).
        The pod is deleted afterwards unless ``keep``.
        """
        name = name or unique_name("run")
        if isinstance(command, str):
            # A container that exits within milliseconds can lose its output: under load
            # containerd's CRI closed the stdout fifo on the exit event before its copier had
            # read it ("Failed to pipe stdout of container ...: reading from a closed fifo", the
            # pod Succeeded with empty logs). The shell waits a second on its way out, whatever
            # the exit status, so the copier reads everything while the writer is still there.
            command = f"trap 'sleep 1' EXIT\n{command}"
        self.apply(self.pod_manifest(name, command, image, **manifest_kwargs), namespace=namespace)
        try:

            def finished() -> dict | None:
                pod = self.json("get", "pod", name, namespace=namespace)
                phase = pod.get("status", {}).get("phase")
                return pod if phase in ("Succeeded", "Failed") else None

            deadline = time.monotonic() + timeout
            pod = None
            while pod is None:
                pod = finished()
                if pod is None and time.monotonic() >= deadline:
                    pytest.fail(
                        f"pod {namespace}/{name} did not finish within {timeout}s\n"
                        + self.describe(f"pod/{name}", namespace)
                    )
                if pod is None:
                    time.sleep(0.5)
            phase = pod["status"]["phase"]
            exit_code = None
            for cs in pod["status"].get("containerStatuses", []):
                term = cs.get("state", {}).get("terminated")
                if term:
                    exit_code = term.get("exitCode")
            logs = self("logs", name, namespace=namespace, check=False).stdout
            result = PodResult(name=name, phase=phase, exit_code=exit_code, logs=logs)
            if check and phase != "Succeeded":
                pytest.fail(
                    f"pod {namespace}/{name} ended {phase} (exit {exit_code}); logs:\n{logs}\n"
                    + self.describe(f"pod/{name}", namespace)
                )
            return result
        finally:
            if not keep:
                self(
                    "delete",
                    "pod",
                    name,
                    "--wait=false",
                    "--ignore-not-found",
                    namespace=namespace,
                    check=False,
                )

    # -- reaching Services from the test process ----------------------------------------------
    def service_url(
        self, namespace: str, service: str, port: int | str | None = None, scheme: str = "http"
    ) -> str:
        """``http://<ClusterIP>:<port>`` of a Service.

        On the local cluster the host reaches ClusterIPs directly (kube-proxy's iptables rules
        cover locally generated traffic), and connections are load-balanced like in-cluster
        ones. ``port`` may be a port number or name; default: the Service's first port.

        While the Service has a ready endpoint, returns once a connection to it succeeds: a pod
        that `helm install --wait` saw Ready is in the EndpointSlice before kube-proxy's next
        sync routes it (seconds on a busy machine; until then the ClusterIP refuses). A Service
        without a ready endpoint is returned as it is.
        """
        svc = self.json("get", "service", service, namespace=namespace)
        ip = svc["spec"].get("clusterIP")
        if not ip or ip == "None":
            pytest.fail(f"service {namespace}/{service} has no ClusterIP")
        ports = svc["spec"]["ports"]
        chosen = ports[0]
        if port is not None:
            matches = [p for p in ports if str(p["port"]) == str(port) or p.get("name") == port]
            if not matches:
                pytest.fail(f"service {namespace}/{service} has no port {port!r}")
            chosen = matches[0]
        deadline = time.monotonic() + 60
        while self._has_ready_endpoint(namespace, service):
            try:
                socket.create_connection((ip, chosen["port"]), timeout=2).close()
                break
            except OSError as e:
                if time.monotonic() > deadline:
                    pytest.fail(f"service {namespace}/{service} has a ready endpoint, but "
                                f"{ip}:{chosen['port']} still refuses after 60 s: {e}")
            time.sleep(0.3)
        return f"{scheme}://{ip}:{chosen['port']}"

    def _has_ready_endpoint(self, namespace: str, service: str) -> bool:
        slices = self.json("get", "endpointslices", "-l",
                           f"kubernetes.io/service-name={service}", namespace=namespace)
        return any(e.get("conditions", {}).get("ready") for s in slices["items"]
                   for e in s.get("endpoints") or [])

    @contextlib.contextmanager
    def port_forward(
        self, namespace: str, target: str, remote_port: int | str, timeout: float = 30
    ) -> Iterator[int]:
        """``kubectl port-forward`` to ``target`` (e.g. ``svc/x`` or ``pod/y``); yields the
        local port on 127.0.0.1. Note: a forward sticks to ONE pod and breaks when it goes away,
        so use ``service_url`` for load through a rollout."""
        cmd = [
            self.binary,
            "--kubeconfig",
            self.kubeconfig,
            "-n",
            namespace,
            "port-forward",
            "--address",
            "127.0.0.1",
            target,
            f":{remote_port}",
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + timeout
            local = None
            assert proc.stdout is not None
            while local is None:
                line = proc.stdout.readline()
                m = re.search(r"Forwarding from 127\.0\.0\.1:(\d+)", line or "")
                if m:
                    local = int(m.group(1))
                elif not line and proc.poll() is not None:
                    err = proc.stderr.read() if proc.stderr else ""
                    pytest.fail(f"kubectl port-forward {target} exited: {err.strip()}")
                elif time.monotonic() >= deadline:
                    pytest.fail(f"kubectl port-forward {target}: no local port after {timeout}s")
            yield local
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()


def http_get(url: str, timeout: float = 5) -> tuple[int, str]:
    """GET ``url`` from the test process; returns (status, body)."""
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - test URLs
        return resp.status, resp.read().decode("utf-8", "replace")
