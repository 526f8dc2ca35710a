import json

import pytest

from faq_engine.faq import FaqError, load_faq


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


def line(**kw):
    return json.dumps(kw) + "\n"


def test_sample_faq_has_50_unique_entries(sample_faq):
    entries = load_faq(sample_faq)
    assert len(entries) >= 50
    assert len({e.id for e in entries}) == len(entries)


def test_jsonl_and_csv_read_the_same(tmp_path):
    j = write(tmp_path, "f.jsonl", line(id="a", question="Q1?", answer="A1")
              + "\n" + line(id=2, question=" Q2? ", answer="A2"))
    c = write(tmp_path, "f.csv", 'id,question,answer\na,Q1?,A1\n2,"Q2?",A2\n')
    assert load_faq(j) == load_faq(c)
    assert load_faq(j)[1].id == "2" and load_faq(j)[1].question == "Q2?"


@pytest.mark.parametrize("text, reason", [
    (line(id="a", question="q", answer="a") + "{not json\n", ":2: invalid JSON"),
    (line(id="a", question="q"), ":1: missing field(s) answer"),
    (line(id="a", question="q", answer="a", extra=1), ":1: unknown field(s) extra"),
    (line(id="a", question="", answer="a"), ":1: field 'question' is empty"),
    (line(id="a", question=["q"], answer="a"), ":1: field 'question' must be a string"),
    ("[1, 2]\n", ":1: expected an object"),
    (line(id="a", question="q", answer="a") * 2, ":2: duplicate id 'a' (first on line 1)"),
    ("\n\n", "no entries"),
    (b"\xff\xfe\n", "not UTF-8"),
])
def test_malformed_jsonl_names_line_and_reason(tmp_path, text, reason):
    p = write(tmp_path, "bad.jsonl", text)
    with pytest.raises(FaqError, match=None) as e:
        load_faq(p)
    assert reason in str(e.value)
    assert str(p) in str(e.value)


def test_malformed_csv(tmp_path):
    with pytest.raises(FaqError, match="header must name"):
        load_faq(write(tmp_path, "f.csv", "id,question\na,b\n"))
    with pytest.raises(FaqError, match=r":3: expected 3 columns"):
        load_faq(write(tmp_path, "g.csv", "id,question,answer\na,b,c\nd,e\n"))


def test_missing_file(tmp_path):
    with pytest.raises(FaqError, match="no such file"):
        load_faq(tmp_path / "nope.jsonl")
