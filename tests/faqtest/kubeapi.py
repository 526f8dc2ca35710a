"""``kubectl get ... -o json`` answered by the API server over one kept-alive HTTPS connection.

The cluster tests poll (``wait_for``) with ``Kubectl.json("get", ...)`` hundreds of times a run;
each kubectl process costs about 50 ms of CPU (a Go program's start, its kubeconfig and TLS
handshake), a request on an open connection about a millisecond. ``ApiReader.get`` answers
the common forms, ``get RESOURCE [NAME] [-l SEL] [--field-selector SEL]``, for the resources
in ``RESOURCES``, with kubectl's own output shape (a ``List`` whose items carry ``apiVersion``
and ``kind``) and its error text (``Error from server (NotFound): ...``). Anything else, or a
kubeconfig that is not the local cluster's kind (an inline client certificate and CA), returns
None and the caller runs kubectl. bench/kube_get.py compares the two.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import ssl
import subprocess
import tempfile
import threading
import urllib.parse
from pathlib import Path
from typing import Any

import yaml
from faqtest.common import go_cli_env

# kubectl's names for a resource -> (API group/version, plural, namespaced). kubectl resolves
# the same names through discovery; these are the preferred versions on Kubernetes 1.30+.
_CORE = {"pods": ("po", "pod"), "nodes": ("no", "node"), "services": ("svc", "service"),
         "persistentvolumeclaims": ("pvc", "persistentvolumeclaim"),
         "persistentvolumes": ("pv", "persistentvolume"), "events": ("ev", "event"),
         "namespaces": ("ns", "namespace"), "configmaps": ("cm", "configmap"),
         "endpoints": ("ep",), "serviceaccounts": ("sa", "serviceaccount")}
_GROUPS = {
    "apps/v1": {"deployments": ("deploy", "deployment"), "replicasets": ("rs", "replicaset"),
                "daemonsets": ("ds", "daemonset"), "statefulsets": ("sts", "statefulset")},
    "batch/v1": {"jobs": ("job",), "cronjobs": ("cj", "cronjob")},
    "autoscaling/v2": {"horizontalpodautoscalers": ("hpa", "horizontalpodautoscaler")},
    "discovery.k8s.io/v1": {"endpointslices": ("endpointslice",)},
    "storage.k8s.io/v1": {"storageclasses": ("sc", "storageclass")},
    "apiregistration.k8s.io/v1": {"apiservices": ("apiservice",)},
}
_CLUSTER_SCOPED = {"nodes", "persistentvolumes", "namespaces", "storageclasses", "apiservices"}
RESOURCES: dict[str, tuple[str, str, bool]] = {}
for _gv, _kinds in (("v1", _CORE), *_GROUPS.items()):
    for _plural, _aliases in _kinds.items():
        for _name in (_plural, *_aliases):
            RESOURCES[_name] = (_gv, _plural, _plural not in _CLUSTER_SCOPED)


class ApiError(Exception):
    """The API server answered an error status (``stderr``: kubectl's text for it)."""

    def __init__(self, stderr: str):
        super().__init__(stderr)
        self.stderr = stderr


def parse_get(args: tuple[str, ...]) -> tuple[str, str | None, dict[str, str]] | None:
    """(resource, name or None, query) of ``get RESOURCE [NAME] [-l S] [--field-selector S]``,
    or None for any other form."""
    if len(args) < 2 or args[0] != "get":
        return None
    rest, words, query = list(args[1:]), [], {}
    while rest:
        a = rest.pop(0)
        for flag, key in (("-l", "labelSelector"), ("--selector", "labelSelector"),
                          ("--field-selector", "fieldSelector")):
            if a == flag and rest:
                query[key] = rest.pop(0)
                break
            if a.startswith(flag + "="):
                query[key] = a.split("=", 1)[1]
                break
        else:
            if a.startswith("-"):
                return None
            words.append(a)
    if len(words) == 1 and "/" in words[0]:
        words = words[0].split("/", 1)
    if not 1 <= len(words) <= 2 or words[0] not in RESOURCES or (len(words) == 2 and query):
        return None
    return words[0], words[1] if len(words) == 2 else None, query


class ApiReader:
    """GETs on the API server of ``kubeconfig`` (its current context), one connection per
    thread, rebuilt when the kubeconfig file changes (a cluster brought up again)."""

    def __init__(self, kubeconfig: str):
        self.kubeconfig = Path(kubeconfig)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._ctx: ssl.SSLContext | None = None
        self._server: tuple[str, int] | None = None
        self._namespace = "default"

    def _context(self) -> tuple[ssl.SSLContext, tuple[str, int]] | None:
        st = self.kubeconfig.stat()
        stamp = (st.st_mtime_ns, st.st_size)
        with self._lock:
            if stamp != self._stamp:
                self._stamp, self._ctx, self._server = stamp, None, None
                cfg = yaml.safe_load(self.kubeconfig.read_text())
                ctx_name = cfg.get("current-context")
                context = next((c["context"] for c in cfg.get("contexts") or []
                                if c.get("name") == ctx_name), None)
                if context is None:
                    return None
                cluster = next((c["cluster"] for c in cfg.get("clusters") or []
                                if c.get("name") == context.get("cluster")), {})
                user = next((u["user"] for u in cfg.get("users") or []
                             if u.get("name") == context.get("user")), {})
                url = urllib.parse.urlsplit(cluster.get("server", ""))
                if url.scheme != "https" or set(cluster) - {"server", "certificate-authority-data"} \
                        or set(user) != {"client-certificate-data", "client-key-data"} \
                        or not cluster.get("certificate-authority-data") or url.path not in ("", "/"):
                    return None  # a proxy, a token, a plugin, files: kubectl knows them all
                ctx = ssl.create_default_context(
                    cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
                with tempfile.TemporaryDirectory() as tmp:  # load_cert_chain reads files
                    pem = Path(tmp) / "client.pem"
                    fd = os.open(pem, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, "wb") as fh:
                        fh.write(base64.b64decode(user["client-certificate-data"]))
                        fh.write(b"\n" + base64.b64decode(user["client-key-data"]))
                    ctx.load_cert_chain(pem)
                self._ctx, self._server = ctx, (url.hostname, url.port or 443)
                self._namespace = context.get("namespace") or "default"
                self._local = threading.local()
            if self._ctx is None:
                return None
            return self._ctx, self._server

    def _request(self, ctx: ssl.SSLContext, server: tuple[str, int], path: str,
                 timeout: float) -> tuple[int, bytes]:
        host, port = server
        for attempt in (1, 2):  # a kept-alive connection the server closed: once more, anew
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._local.conn = http.client.HTTPSConnection(host, port, context=ctx,
                                                                      timeout=timeout)
            conn.timeout = timeout
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
            try:
                conn.request("GET", path, headers={"Accept": "application/json"})
                r = conn.getresponse()
                return r.status, r.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    http.client.CannotSendRequest, http.client.ResponseNotReady):
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
            except OSError:
                conn.close()
                self._local.conn = None
                raise
        raise AssertionError("unreachable")

    def _usable_context(self) -> tuple[ssl.SSLContext, tuple[str, int]] | None:
        """The context, or None when this kubeconfig is not one to answer for (or unreadable,
        as between a cluster's down and up: kubectl then says why)."""
        try:
            return self._context()
        except (OSError, ValueError, KeyError, TypeError, ssl.SSLError, yaml.YAMLError):
            return None

    def get(self, args: tuple[str, ...], namespace: str | None, timeout: float) -> Any | None:
        """What ``kubectl get ARGS -o json`` prints, parsed; None when kubectl must answer.
        Raises ApiError (kubectl's error text) for an error status or an unreachable server,
        and TimeoutError when the server does not answer within ``timeout``."""
        parsed = parse_get(args)
        context = self._usable_context() if parsed is not None else None
        if context is None:
            return None
        resource, name, query = parsed
        gv, plural, namespaced = RESOURCES[resource]
        path = "/api/v1" if gv == "v1" else f"/apis/{gv}"
        if namespaced:
            path += f"/namespaces/{urllib.parse.quote(namespace or self._namespace, safe='')}"
        path += f"/{plural}"
        if name is not None:
            path += f"/{urllib.parse.quote(name, safe='')}"
        if query:
            path += "?" + urllib.parse.urlencode(query)
        try:
            status, body = self._request(*context, path, timeout)
        except TimeoutError:  # an OSError too, but the caller's to report
            raise
        except OSError as e:
            host, port = context[1]
            raise ApiError(f"The connection to the server {host}:{port} was refused - did you "
                           f"specify the right host or port? ({e})") from None
        data = json.loads(body)
        if status >= 400:
            raise ApiError(f"Error from server ({data.get('reason') or status}): "
                           f"{data.get('message') or body[:300].decode(errors='replace')}")
        if name is not None:
            return _as_kubectl_prints(data)
        kind = data.get("kind", "")
        kind = kind[:-4] if kind.endswith("List") else kind
        items = [_as_kubectl_prints({"apiVersion": gv, "kind": kind, **item})
                 for item in data.get("items") or []]
        return {"apiVersion": "v1", "items": items, "kind": "List",
                "metadata": {"resourceVersion": ""}}


def _as_kubectl_prints(obj: dict) -> dict:
    """kubectl leaves out managedFields unless --show-managed-fields."""
    (obj.get("metadata") or {}).pop("managedFields", None)
    return obj


def kubectl_get_json(binary: str, kubeconfig: str, args: tuple[str, ...],
                     namespace: str | None) -> Any:
    """The same through kubectl, as faqtest.kube.Kubectl runs it (tests and bench/kube_get.py
    compare the two)."""

    cmd = [binary, "--kubeconfig", kubeconfig, *(["--namespace", namespace] if namespace else []),
           *args, "-o", "json"]
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True,
                                     env=go_cli_env()).stdout)
