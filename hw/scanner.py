"""Leading non-zero detection: the layer's input activations in, one non-zero a cycle out."""

from amaranth.hdl import Cat, Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from tinyeie.contract.layouts import COUNT_BITS

__all__ = ["NonZero", "Scanner"]



def NonZero(act_width):
    """A non-zero input activation ``a`` of column ``j``."""
    return data.StructLayout({"j": COUNT_BITS, "a": signed(act_width)})


class Scanner(wiring.Component):
    """Finds the non-zero activations of a layer's input, in column order.

    Activation ``j`` sits in bank ``j mod N`` at word ``j div N``; the scanner reads one word of
    every bank at once (N activations) and emits their non-zeros lowest first, one a cycle. Reads
    go on while a word's non-zeros are sent, a word a cycle, and a word of zeros is dropped as it
    is read, so a layer takes about the larger of its words and its non-zeros.

    Members
    -------
    start : In(1)
        Begin a layer of ``in_count`` inputs in bank half ``half``.
    bank_addr, bank_en : Out
        Read address (half in the top bit) and enable of every bank's read port.
    bank_data : In(N activations)
        The banks' read data, one cycle after an enabled read, held while not enabled.
    o_stream : Out(stream of NonZero)
    busy : Out(1)
        Words remain to be read or non-zeros to be sent.
    """

    def __init__(self, config):
        self._config = config
        self._word_width = max(1, ceil_log2(config.bank_depth))
        super().__init__({
            "start": In(1),
            "in_count": In(COUNT_BITS),
            "half": In(1),
            "bank_addr": Out(self._word_width + 1),
            "bank_en": Out(1),
            "bank_data": In(data.ArrayLayout(signed(config.act_width), config.pes)),
            "o_stream": Out(stream.Signature(NonZero(config.act_width))),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        # The banks' output registers hold the word read last (reads are only enabled when the
        # word before has been taken), so they serve as the one-word buffer between the reads
        # and the picker, which keeps the word being emitted and the mask of its non-zeros
        # still to send.
        n = self._config.pes
        m = Module()

        reading = Signal()                       # words of this layer remain to be read
        next_word = Signal(self._word_width)
        next_base = Signal(COUNT_BITS + 1)     # next_word * N
        out_valid = Signal()                     # the banks' output holds an untaken word
        out_base = Signal(COUNT_BITS + 1)
        cur_acts = Signal(data.ArrayLayout(signed(self._config.act_width), n))
        cur_mask = Signal(n)
        cur_base = Signal(COUNT_BITS + 1)

        lowest = Signal(range(max(n, 2)))    # (at least one bit: Verilog has no empty vectors)
        for p in reversed(range(n)):
            with m.If(cur_mask[p]):
                m.d.comb += lowest.eq(p)
        m.d.comb += [
            self.o_stream.valid.eq(cur_mask != 0),
            self.o_stream.payload.j.eq(cur_base + lowest),
            self.o_stream.payload.a.eq(cur_acts[lowest]),
        ]
        sent = self.o_stream.valid & self.o_stream.ready
        mask_left = Signal(n)
        m.d.comb += mask_left.eq(cur_mask & ~(sent << lowest))

        incoming = Signal(n)
        for p in range(n):
            m.d.comb += incoming[p].eq((self.bank_data[p] != 0)
                                       & (out_base + p < self.in_count))
        # A word of zeros is passed over as it arrives, also while the word before still has
        # non-zeros to send: reads run ahead through zeros instead of costing a cycle each.
        load = out_valid & (mask_left == 0)
        take = load | (out_valid & (incoming == 0))
        with m.If(load):
            m.d.sync += [cur_acts.eq(self.bank_data), cur_mask.eq(incoming),
                         cur_base.eq(out_base)]
        with m.Else():
            m.d.sync += cur_mask.eq(mask_left)

        read = reading & (~out_valid | take)
        m.d.comb += [self.bank_en.eq(read), self.bank_addr.eq(Cat(next_word, self.half))]
        with m.If(self.start):
            m.d.sync += [next_word.eq(0), next_base.eq(0), out_valid.eq(0), cur_mask.eq(0),
                         reading.eq(self.in_count != 0)]
        with m.Elif(read):
            m.d.sync += [next_word.eq(next_word + 1), next_base.eq(next_base + n),
                         out_valid.eq(1), out_base.eq(next_base),
                         reading.eq(next_base + n < self.in_count)]
        with m.Elif(take):
            m.d.sync += out_valid.eq(0)

        m.d.comb += self.busy.eq(reading | out_valid | (cur_mask != 0))
        return m
