"""Write a strict JSON schema per CustomResourceDefinition version, for kubeconform.

    python3 ci/crd_schemas.py CRD_DIR OUT_DIR

Every *.yaml in CRD_DIR holding a CustomResourceDefinition gives
OUT_DIR/<group>/<kind lower-case>_<version>.json from its openAPIV3Schema. The schemas are
strict as kubeconform's own are: an object that lists its properties admits no others, and the
Kubernetes extensions turn into JSON schema (int-or-string, preserved unknown fields).
ci/crd-schemas.sh runs it with the project venv's Python (PyYAML).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml


class Loader(yaml.SafeLoader):
    """YAML 1.2 reading of `=`: a plain string (relabel actions list it), not YAML 1.1's value tag."""


Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:value"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def strict(node):
    """The openAPIV3Schema as a draft JSON schema, closed where it names its properties."""
    if isinstance(node, list):
        return [strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: strict(v) for k, v in node.items()}
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    preserve = out.pop("x-kubernetes-preserve-unknown-fields", False)
    for key in [k for k in out if k.startswith("x-kubernetes-")]:
        del out[key]
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


def main(crd_dir: str, out_dir: str) -> int:
    out = Path(out_dir)
    written = 0
    for path in sorted(Path(crd_dir).glob("*.yaml")):
        for doc in yaml.load_all(path.read_text(), Loader=Loader):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                schema = strict(version["schema"]["openAPIV3Schema"])
                # kubeconform checks apiVersion and kind against the document it validates.
                target = out / spec["group"] / f"{spec['names']['kind'].lower()}_{version['name']}.json"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(json.dumps(schema, indent=1))
                written += 1
    if not written:
        print(f"crd_schemas.py: no CustomResourceDefinition in {crd_dir}", file=sys.stderr)
        return 1
    print(f"crd_schemas.py: {written} schemas in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
