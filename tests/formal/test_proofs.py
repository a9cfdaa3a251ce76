"""The fast slice of the formal proofs (SymbiYosys on the gateware): `make formal` runs them
all and writes their figures; these run in `make test`."""

import pytest

from tinyeie.sim.formal import check
from tinyeie.sim.proofs import PROOFS

pytestmark = pytest.mark.formal


@pytest.mark.parametrize("proof", [p for p in PROOFS if p.quick], ids=lambda p: p.name)
def test_proof(proof, tmp_path):
    assert check(proof, root=tmp_path)["result"] == "PASS"
