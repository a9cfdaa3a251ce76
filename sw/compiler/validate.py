"""What makes a packed model a model: :mod:`tinyeie.contract.structure`'s rules, as an error.

The loader of a board without the model check takes any image whose bytes are whole and whose
writes land inside the memories; what the words *mean* (that the layers chain, that every run
of entries lies inside its PE memory and ends where the PE can tell, that every weight lands on
one of its PE's rows of the layer) it does not check. ``read_image`` (every command's reader)
and the interpreter refuse an image that breaks those rules with :func:`check_packed`, so the
host never sends one.
"""

from tinyeie.contract.errors import TinyeieError
from tinyeie.contract.structure import structure_fault

__all__ = ["check_packed"]


def check_packed(packed):
    """Refuse (TinyeieError) a :class:`~tinyeie.sw.compiler.pack.PackedModel` that breaks
    :func:`~tinyeie.contract.structure.structure_fault`'s rules."""
    fault = structure_fault(packed.config, packed.layer_table, packed.columns, packed.pe_words)
    if fault:
        raise TinyeieError(f"not a valid tinyeie model image: {fault}")
