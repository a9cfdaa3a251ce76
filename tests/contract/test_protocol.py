"""The protocol's numbers as docs/protocol.md states them."""

import struct
from pathlib import Path

from tinyeie.contract import protocol

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def _doc_table(heading_word, first_column):
    """(code, name) rows of the docs/protocol.md table whose header starts with
    ``first_column``, after the heading containing ``heading_word``."""
    text = DOC.read_text()
    text = text[text.index(heading_word):]
    rows = []
    for line in text[text.index(f"| {first_column} |"):].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip(" `") for c in line.strip("|").split("|")]
        rows.append((int(cells[0], 0), cells[1]))
    return rows


def test_docs_tables_match_the_code():
    assert _doc_table("## Errors", "code") == [(c.value, protocol.doc_name(c))
                                               for c in protocol.ErrorCode if c]
    assert _doc_table("Loader errors", "code") == [(c.value, protocol.doc_name(c))
                                                   for c in protocol.LoaderError]
    assert _doc_table("## Requests", "type") == [(r.value, protocol.doc_name(r))
                                                 for r in protocol.Request]


def test_status_format_covers_the_fields():
    assert struct.calcsize(protocol.status_format()) == protocol.STATUS_BYTES == 17
    assert struct.calcsize(protocol.status_format(protocol.STATUS_V1_BYTES)) == 12
    assert [name for name, _ in protocol.STATUS_FIELDS][:2] == ["version", "model_valid"]
