"""docs/verification.md's table comes from the JSON figures, and the text around it stays."""

import json

from tinyeie.sim.verification_doc import BEGIN, END, table, update


def write(folder, name, data):
    (folder / name).write_text(json.dumps(data))


def test_the_table_has_a_row_per_figure(tmp_path):
    write(tmp_path, "formal.json", {"proofs": [
        {"name": "q", "what": "a queue equals a FIFO", "mode": "prove", "depth": 5,
         "result": "PASS", "seconds": 2.5}]})
    write(tmp_path, "random.json", {"networks": 10, "layers": 21, "vectors": 30,
                                    "mismatches": 0, "pes": [1, 2], "traffic": [[0, 0]],
                                    "seconds": 300})
    text = table(tmp_path)
    assert "| formal: a queue equals a FIFO | prove, depth 5 | 2 s | PASS | `make formal` |" in text
    assert "10 networks, 21 layers, 30 input vectors | 5.0 min | 0 mismatches" in text


def test_update_keeps_the_text_around_the_table(tmp_path):
    doc = tmp_path / "verification.md"
    doc.write_text(f"# Title\n\n{BEGIN}\nold table\n{END}\n\nThe rest.\n")
    (tmp_path / "figures").mkdir()
    update(doc, tmp_path / "figures")
    text = doc.read_text()
    assert text.startswith("# Title") and text.endswith("The rest.\n")
    assert "old table" not in text and "| check |" in text
