"""A board top driven by a script in the simulation itself, so that Verilator runs at full speed.

The cocotb UART host (:mod:`tinyeie.sim.uart_model`) wakes Python about twenty times a byte;
here a Verilog testbench around :class:`~tinyeie.boards.top.BoardTop` plays a script read with
``$readmemh`` from ``script.hex`` in the run's directory: bytes to the top's ``rx`` pin, bit-timed
at the UART divisor; quiet times; and waits until the top has sent a given number of whole frames
(counted by a frame parser on its ``tx`` pin) or a deadline in clock cycles has passed. Every byte
received goes to ``answers.txt``, with a mark where each wait ended; then ``done`` rises, the only
thing Python waits for (:mod:`tinyeie.sim.cocotb_script_player`).

A script is a list of 64-bit words, the operation in the top four bits:

* ``END`` (0): stop (``done``);
* ``SEND`` (1): bits 7..0 a byte, bit 8 set for a broken stop bit (a UART framing error; the line
  then idles one bit time);
* ``IDLE`` (2): bits 39..0 clock cycles of idle line;
* ``WAIT`` (3): until the top has sent bits 59..40 whole frames since reset, at most bits 39..0
  clock cycles; then a line ``e``. When the deadline passes first the line is ``h`` (a hang),
  and the script stops there.

``answers.txt`` holds a line per event: a byte as two hex digits (``!`` before it when its stop
bit was low), ``e``, ``h``, and ``d`` at the end.
"""

from pathlib import Path

from tinyeie.sim.harness import build, run

__all__ = ["END", "SEND", "IDLE", "WAIT", "DEPTH", "send", "idle", "wait", "player_build",
           "play", "parse_answers"]

END, SEND, IDLE, WAIT = 0, 1, 2, 3
DEPTH_BITS = 18
DEPTH = 1 << DEPTH_BITS     # script words a run holds (2 MiB of simulator memory)
MAX_FRAMES = (1 << 20) - 1  # frames a run may wait for, in all

_DRIVER = """
module script_player (input clk, input rst, output reg done, output reg hung);
  localparam DIVISOR = __DIVISOR__;
  reg [63:0] script [0:__DEPTH__ - 1];
  integer out;
  initial begin
    $readmemh("script.hex", script);
    out = $fopen("answers.txt", "w");
  end

  reg rx;
  wire tx;
  /* verilator lint_off PINCONNECTEMPTY */
  __TOP__ top (.clk(clk), .rst(rst), .rx(rx), .tx(tx), .flash_cipo(1'b1),
       .flash_cs_n(), .flash_sck(), .flash_copi(), .leds(), .model_led());
  /* verilator lint_on PINCONNECTEMPTY */

  // The host's receiver: the middle of each bit of tx; a frame parser counts whole frames.
  reg rbusy;
  reg [15:0] rcount;
  reg [3:0] rbit;
  reg [7:0] rshift;
  reg [2:0] fstate;
  reg [15:0] fleft;
  reg [19:0] frames;
  always @(posedge clk) begin
    if (rst) begin
      rbusy <= 0; rbit <= 0; rcount <= 0; fstate <= 0; frames <= 0; fleft <= 0; rshift <= 0;
    end else if (!rbusy) begin
      if (!tx) begin rbusy <= 1; rcount <= DIVISOR / 2 - 1; rbit <= 0; end
    end else if (rcount != 0) begin
      rcount <= rcount - 1;
    end else begin
      rcount <= DIVISOR - 1;
      if (rbit == 0) begin
        if (tx) rbusy <= 0;                 // a glitch, not a start bit
        else rbit <= 1;
      end else if (rbit <= 8) begin
        rshift <= {tx, rshift[7:1]};
        rbit <= rbit + 1;
      end else begin
        rbusy <= 0;
        if (tx) $fwrite(out, "%02x\\n", rshift);
        else $fwrite(out, "!%02x\\n", rshift);
        case (fstate)
          0: if (rshift == 8'h5A) fstate <= 1;
          1: fstate <= 2;
          2: begin fleft[7:0] <= rshift; fstate <= 3; end
          3: begin fleft[15:8] <= rshift; fstate <= ({rshift, fleft[7:0]} == 0) ? 5 : 4; end
          4: begin fleft <= fleft - 1; if (fleft == 1) fstate <= 5; end
          5: fstate <= 6;
          default: begin frames <= frames + 1; fstate <= 0; end
        endcase
      end
    end
  end

  // The host's sender and the script.
  reg [DEPTH_BITS_ - 1:0] pc;
  reg [63:0] word;
  reg [1:0] phase;                          // 0 fetch, 1 run the word
  reg [39:0] timer;
  reg [3:0] bits;
  reg [10:0] frame_bits;                    // start, 8 data, stop, one idle bit
  always @(posedge clk) begin
    if (rst) begin
      pc <= 0; phase <= 0; done <= 0; hung <= 0; rx <= 1; timer <= 0; bits <= 0;
      word <= 0; frame_bits <= 0;
    end else if (!done) begin
      if (phase == 0) begin
        word <= script[pc];
        pc <= pc + 1;
        phase <= 1;
        timer <= 0;
        bits <= 0;
        frame_bits <= {1'b1, !script[pc][8], script[pc][7:0], 1'b0};
      end else case (word[63:60])
        1: begin
          rx <= frame_bits[bits];
          if (timer == DIVISOR - 1) begin
            timer <= 0;
            if (bits == (word[8] ? 10 : 9)) begin phase <= 0; rx <= 1; end
            else bits <= bits + 1;
          end else timer <= timer + 1;
        end
        2: begin
          rx <= 1;
          if (timer >= word[39:0]) phase <= 0;
          else timer <= timer + 1;
        end
        3: begin
          if (frames >= word[59:40]) begin
            $fwrite(out, "e\\n");
            phase <= 0;
          end else if (timer >= word[39:0]) begin
            $fwrite(out, "h\\nd\\n");
            $fflush(out);
            hung <= 1;
            done <= 1;
          end else timer <= timer + 1;
        end
        default: begin
          $fwrite(out, "d\\n");
          $fflush(out);
          done <= 1;
        end
      endcase
    end
  end
endmodule
"""


def send(data, broken_stop=False):
    """Script words that send the bytes ``data`` back to back (the last one's stop bit low when
    ``broken_stop``)."""
    data = bytes(data)
    return [SEND << 60 | b | (broken_stop and k == len(data) - 1) << 8
            for k, b in enumerate(data)]


def idle(cycles):
    """A script word: the line idle for ``cycles`` clock cycles."""
    return [IDLE << 60 | cycles]


def wait(frames, deadline):
    """A script word: wait until ``frames`` whole frames have come since reset, at most
    ``deadline`` clock cycles."""
    if not 0 <= frames <= MAX_FRAMES:
        raise ValueError(f"a run waits for at most {MAX_FRAMES} frames, not {frames}")
    return [WAIT << 60 | frames << 40 | deadline]


def player_build(design, name, divisor):
    """The Verilator build of the script player around ``design`` (a board top: ports ``rx``,
    ``tx``, ``flash_*``, ``leds``, ``model_led``), its UART at ``divisor`` cycles a bit."""
    from amaranth.back import verilog

    top = verilog.convert(design() if callable(design) else design, name=f"{name}_top",
                          emit_src=False)
    driver = (_DRIVER.replace("__DIVISOR__", str(divisor)).replace("__DEPTH__", str(DEPTH))
              .replace("DEPTH_BITS_", str(DEPTH_BITS)).replace("__TOP__", f"{name}_top"))
    return build(top + driver, toplevel="script_player")


def play(sim, words, run_dir, *, period_ns=20, budget_cycles=None):
    """Run the script ``words`` (at most :data:`DEPTH`) on the build ``sim`` in ``run_dir``;
    returns what :func:`parse_answers` makes of ``answers.txt``."""
    if len(words) >= DEPTH:
        raise ValueError(f"a script holds at most {DEPTH - 1} words, not {len(words)}")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "script.hex").write_text("".join(f"{w:016x}\n" for w in [*words, END]))
    (run_dir / "answers.txt").unlink(missing_ok=True)
    run(sim, "tinyeie.sim.cocotb_script_player", run_dir=run_dir,
        args={"period_ns": period_ns, "budget_cycles": budget_cycles})
    return parse_answers((run_dir / "answers.txt").read_text())


def parse_answers(text):
    """``(segments, hung, finished)``: the bytes received before each wait ended (a list per
    wait, the last one what came after the last wait), None for a byte with a broken stop bit;
    whether the last wait hung; whether the script reached its end."""
    segments, current, hung, finished = [], [], False, False
    for line in text.split():
        if line == "e":
            segments.append(current)
            current = []
        elif line == "h":
            hung = True
        elif line == "d":
            finished = True
        elif line.startswith("!"):
            current.append(None)
        else:
            current.append(int(line, 16))
    segments.append(current)
    return segments, hung, finished
