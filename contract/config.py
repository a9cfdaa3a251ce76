"""The engine's parameters: shared by the compiler, the golden model and the RTL."""

from dataclasses import asdict, dataclass

from tinyeie.contract.errors import TinyeieError
from tinyeie.contract.layouts import BASE_UNIT

__all__ = ["EngineConfig"]


@dataclass(frozen=True)
class EngineConfig:
    """Sizes of one engine build. The defaults fit an iCE40UP5K (one SPRAM per PE).

    ``pe_depth``: 16-bit words of each PE's memory (biases, then entries, two a word);
    ``col_depth``: rows of the column table (one per layer input, all layers, and one more;
    1536 rows of 4 PEs' offsets and a 14-bit base are 12 iCE40 EBRs, two banks of 768);
    ``act_depth``: the widest layer (inputs or outputs); ``max_layers``: rows of the layer
    table; ``queue_depth``: broadcasts a PE can hold before the broadcast waits for it. Its
    default depends on ``pes``: 1 up to 4 PEs, the iCE40UP5K's engine, where each further slot
    costs about 70 logic cells in every PE (LeNet-300-100 takes 2.0% more cycles than with 2
    slots, 2.5% more than with 4; docs/engine.md), 8 beyond, where the busiest PE of a column
    more often holds the others up and ECP5 LUT RAM makes the depth cheap.
    """

    pes: int = 4
    act_width: int = 8
    code_width: int = 8
    acc_width: int = 24
    pe_depth: int = 16384
    col_depth: int = 1536
    act_depth: int = 1024
    max_layers: int = 4
    queue_depth: int = None

    def __post_init__(self):
        if self.queue_depth is None:
            object.__setattr__(self, "queue_depth", 1 if self.pes <= 4 else 8)
        def check(name, low, high):
            value = getattr(self, name)
            if not isinstance(value, int) or not low <= value <= high:
                raise TinyeieError(f"{name} must be an integer in {low}..{high}, not {value!r}")
        check("pes", 1, 64)
        check("act_width", 2, 16)
        check("code_width", 2, 16)
        check("acc_width", self.act_width + self.code_width, 40)
        check("pe_depth", 2, 1 << 16)
        check("col_depth", 1, 1 << 16)
        check("act_depth", 1, 4095)
        check("max_layers", 1, (1 << 16) // 32)
        check("queue_depth", 1, 64)

    @property
    def bank_depth(self):
        """Activations (and accumulators) per PE: each PE holds every ``pes``-th one."""
        return -(-self.act_depth // self.pes)

    @property
    def row_span(self):
        """Local rows a PE's row counter can name (a power of two, at least ``bank_depth``): the
        padding after a run may walk past the PE's last row; it adds zero wherever it lands."""
        return 1 << max(1, (self.bank_depth - 1).bit_length())

    @property
    def max_run(self):
        """The most entries one PE's run of one column can hold: one per local row (a filler
        stands for 16 zero rows, so fillers never make a run longer than its rows)."""
        return self.bank_depth

    @property
    def run_end_bits(self):
        """Low address bits by which a PE tells the last byte of a run (docs/engine.md): a run,
        with the padding after it, must be shorter than ``2**run_end_bits`` bytes. Room for the
        longest run and the padding that realigns it to a word (the compiler keeps any more
        padding within this)."""
        return (self.max_run + BASE_UNIT - 1).bit_length()

    def as_dict(self):
        return asdict(self)
