#!/usr/bin/env bash
# Every benchmark, one after the other (`make bench`; tools on PATH via ci/with-env).
# Each prints its own figures and ratios, all taken within its own run.
set -euo pipefail
cd "$(dirname "$0")"
python eval_ranking.py
python serve_perf.py
python go_cli_gc.py
python kube_get.py
python attacks.py
python batch_perf.py
python threads_perf.py
python model_copy.py
bash cluster_bringup.sh
python registry_push_pull.py
bash ../ci/images/push.sh $(bash ../ci/images/build.sh) >/dev/null
python cluster_lifecycle.py
python prepull_perf.py
python autoscale_perf.py
bash go_build.sh dwarf
bash go_build.sh gc
bash go_build.sh shared
python venv_install.py test checkov reference
