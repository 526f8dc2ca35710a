"""Render tests of NOTES.txt: what helm install tells the user."""

from __future__ import annotations

from faqtest.chart import INTERNAL_ROUTES, LOCAL_MODEL, render_notes


def _notes(tmp_path, *sets):
    return render_notes(tmp_path, sets=list(sets))


def test_notes_tell_how_to_ask_a_question(tmp_path):
    notes = _notes(tmp_path)
    assert "kubectl -n faq port-forward service/rel-faq-engine 8080:80" in notes
    assert "curl -s -X POST http://127.0.0.1:8080/v1/answer" in notes
    assert f"{LOCAL_MODEL}:1.0" in notes
    assert "helm test rel" in notes


def test_notes_with_ingress_and_canary(tmp_path):
    notes = _notes(tmp_path, "ingress.enabled=true", "canary.enabled=true",
                   "canary.model.tag=1.1")
    assert "http://faq-engine.local/" in notes
    assert f"{LOCAL_MODEL}:1.1 share the Service" in notes


def test_notes_warn_when_the_ingress_publishes_internal_routes(tmp_path):
    assert "WARNING" not in _notes(tmp_path / "a", "ingress.enabled=true")
    notes = _notes(tmp_path / "b", "ingress.enabled=true", "ingress.hosts[0].host=faq.example.com",
                   "ingress.hosts[0].paths[0].path=/", "ingress.hosts[0].paths[0].pathType=Prefix")
    for route in INTERNAL_ROUTES:
        assert f"WARNING: ingress path / on faq.example.com publishes the internal route {route}" \
            in notes, notes
