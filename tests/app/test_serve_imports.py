"""What a process that serves a Doc2Vec model imports: gensim's compiled inference step without
gensim's package init (smart_open, scipy.sparse, scipy.stats), and gensim still whole for
training afterwards in the same process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _run(code: str, *args: str) -> dict:
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


ANSWER = ("import json, sys\n"
          "from faq_engine.ranking import Ranker\n"
          "r = Ranker(sys.argv[1])\n"
          "best = r.answer('How do I roll out a new model version?', 3)\n")


def test_serving_does_not_run_gensims_package_init(trained_model):
    out = _run(ANSWER + "print(json.dumps({'modules': sorted(m for m in sys.modules if m.split('.')[0]"
               " in ('gensim', 'smart_open') or m.startswith(('scipy.stats', 'scipy.sparse')))}))",
               str(trained_model))
    assert out["modules"] == ["gensim.models.doc2vec_inner", "gensim.models.word2vec_inner"]


def test_training_after_serving_in_one_process(trained_model, sample_faq, tmp_path):
    """Loaded first (bare gensim), then trained (gensim's own init): both models answer, and
    the new one as the session's model does, so the compiled step is the same one."""
    out = _run(
        ANSWER + "import gensim\n"
        "from faq_engine.trainer import train\n"
        "train(sys.argv[2], sys.argv[3], version='1.0')\n"
        "again = Ranker(sys.argv[3]).answer('How do I roll out a new model version?', 3)\n"
        "import gensim.models.doc2vec_inner as inner\n"
        "print(json.dumps({'first': repr(best), 'again': repr(again),"
        " 'version': gensim.__version__, 'same': inner is sys.modules['gensim.models.doc2vec_inner']}))",
        str(trained_model), str(sample_faq), str(tmp_path / "m"))
    assert out["first"] == out["again"]
    assert out["version"] and out["same"]


@pytest.mark.parametrize("refuse", ["gensim.models.word2vec_inner", "gensim.models.doc2vec_inner"])
def test_falls_back_to_the_plain_import(trained_model, refuse):
    """A gensim whose compiled modules need its package init: they fail to import under the bare
    packages (simulated by a finder that refuses them then), and the plain import is used."""
    finder = (
        "import importlib.abc, sys\n"
        "class Refuse(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        f"        if name == {refuse!r} and not hasattr(sys.modules.get('gensim'), '__version__'):\n"
        "            raise ImportError('needs gensim')\n"
        "sys.meta_path.insert(0, Refuse())\n")
    out = _run(finder + ANSWER + "print(json.dumps({'init': hasattr(sys.modules.get('gensim'), "
               "'__version__'), 'best': repr(best)}))", str(trained_model))
    plain = _run(ANSWER + "print(json.dumps({'best': repr(best)}))", str(trained_model))
    assert out["init"] is True
    assert out["best"] == plain["best"]
