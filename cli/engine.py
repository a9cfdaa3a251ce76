"""The engine's subcommands: ``tinyeie pack``, ``tinyeie verilog``, ``tinyeie sim``."""

import json
from pathlib import Path

from tinyeie.cli.options import add_data_option, integer
from tinyeie.contract.config import EngineConfig
from tinyeie.contract.errors import TinyeieError
from tinyeie.sw.outputs import check_output_dir, check_output_file, write_text

__all__ = ["register", "add_config_options", "config_from_args"]

CONFIG_OPTIONS = {   # option -> (EngineConfig field, help)
    "--pe-depth": ("pe_depth", "16-bit words of each PE memory"),
    "--col-depth": ("col_depth", "rows of the column table"),
    "--act-depth": ("act_depth", "widest layer the activation memories hold"),
    "--max-layers": ("max_layers", "rows of the layer table"),
    "--queue-depth": ("queue_depth", "columns each PE can have queued (default 1 for up to 4 "
                                     "PEs, else 8)"),
    "--act-width": ("act_width", "bits of an activation"),
    "--code-width": ("code_width", "bits of a codebook entry"),
    "--acc-width": ("acc_width", "bits of an accumulator"),
}


def add_config_options(parser):
    defaults = EngineConfig()
    parser.add_argument("--pes", type=integer(1),
                        help=f"processing elements (default {defaults.pes})")
    for option, (field, text) in CONFIG_OPTIONS.items():
        if "default" not in text:
            text = f"{text} (default {getattr(defaults, field)})"
        parser.add_argument(option, type=integer(1), dest=field, help=text)


def config_from_args(args, model=None):
    """The engine the options describe. For a model image (``model`` a .bin or a pack folder)
    given without options: None, the engine its header describes."""
    fields = {field: getattr(args, field) for field, _ in CONFIG_OPTIONS.values()
              if getattr(args, field) is not None}
    if args.pes is not None:
        fields["pes"] = args.pes
    if model is not None and not fields:
        from tinyeie.sw.compiler.compile import is_model_image
        if is_model_image(model):
            return None
    return EngineConfig(**fields)


def cmd_pack(args):
    from tinyeie.flow import load_data, pack
    from tinyeie.sw.compiler.image import format_sizes

    cfg = config_from_args(args)
    check_output_dir(args.output, "model image folder")
    data = load_data(args.data)
    compiled = pack(args.model, data, cfg, output=args.output, balance=not args.no_balance)
    manifest = json.loads((Path(args.output) / "manifest.json").read_text())
    used = manifest["memories"]
    print(f"{Path(args.output) / 'model.bin'}: {manifest['image_bytes']:,} bytes for {cfg.pes} "
          f"PEs; PE memory {used['pe_words']['used']:,} of {cfg.pe_depth:,} words, column table "
          f"{used['column_rows']['used']:,} of {cfg.col_depth:,} rows")
    print(format_sizes(manifest["sizes"]))
    x, y = data.test
    float_error, int_error = compiled.errors(x, y)
    print(f"test error on the {data.describe(len(y))}: float {float_error:.2%}, "
          f"engine integers {int_error:.2%}")
    return 0


def cmd_verilog(args):
    from amaranth.back import verilog

    from tinyeie.hw.engine import Engine
    from tinyeie.sw.compiler.image import load_image

    cfg = config_from_args(args)
    check_output_file(args.output, "Verilog file")
    packed = load_image(args.init, cfg) if args.init else None
    text = verilog.convert(Engine(cfg, packed), name=args.name, emit_src=False)
    write_text(args.output, text)
    print(f"{args.output}: module {args.name}, {cfg.pes} PEs"
          + (f", memories initialised from {args.init}" if packed else ""))
    return 0


def register(sub):
    p = sub.add_parser("pack", help="compile a compressed model into the engine's memories")
    p.add_argument("model", help="compressed model (.npz from `tinyeie compress`)")
    p.add_argument("-o", "--output", required=True, help="folder for model.bin, manifest.json "
                   "and mem/*.hex")
    p.add_argument("--no-balance", action="store_true", help="rows i mod N, as in EIE, instead "
                   "of balancing every column's weights over the PEs")
    add_config_options(p)
    add_data_option(p, "the data whose training inputs calibrate the activations and whose "
                       "test inputs measure the error")
    p.set_defaults(func=cmd_pack)

    p = sub.add_parser("verilog", help="write the engine as Verilog")
    p.add_argument("-o", "--output", required=True, help="Verilog file to write")
    p.add_argument("--name", default="tinyeie_engine", help="top module name")
    p.add_argument("--init", help="model.bin (or a `tinyeie pack` folder) to initialise the "
                   "memories with")
    add_config_options(p)
    p.set_defaults(func=cmd_verilog)

    p = sub.add_parser("sim", help="run test inputs through the engine's RTL (Verilator; needs "
                       "a C++ compiler and make)")
    p.add_argument("model", help="model image (model.bin or a `tinyeie pack` folder), or a "
                   "compressed model (.npz) to pack first")
    p.add_argument("--images", type=integer(1), default=100, help="the first K test inputs")
    p.add_argument("--json", action="store_true", help="print the measurements as JSON")
    p.add_argument("--board", help="simulate this board's whole design (flash boot, UART) "
                   "with its engine; --pes may change its PEs, the other engine options do not "
                   "apply")
    p.add_argument("--netlist", help="with --board: simulate this gate-level netlist (the "
                   "tinyeie.netlist.v that `tinyeie build` writes), or `synth` to synthesise one "
                   "into build/BOARD-gate first; the cell models are yosys's")
    p.add_argument("--baud", type=integer(300, 12_000_000), default=115200,
                   help="with --board: the UART's baud rate, simulated at the board's real bit "
                        "time (images per second at the board's clock)")
    p.add_argument("--link-v1", action="store_true",
                   help="with --board: send dense INFERs, each after the previous answer (as "
                        "protocol version 1), instead of sparse ones where shorter, sent ahead")
    p.add_argument("--waves", metavar="FILE", help="record the waveforms into FILE (.fst, or "
                   ".vcd for any viewer); all images in one run")
    add_config_options(p)
    add_data_option(p, "the data whose test inputs to run (and, for a compressed model, whose "
                       "training inputs calibrate it)")
    p.set_defaults(func=cmd_sim)


def cmd_sim(args):
    from tinyeie.flow import load_data, simulate
    from tinyeie.sim.harness import require_build_tools

    if args.netlist and not args.board:
        raise TinyeieError("--netlist simulates a board's netlist: give --board NAME too")
    require_build_tools()      # before anything is packed or built
    data = load_data(args.data)
    config = config_from_args(args, args.model)
    if args.board:
        config = EngineConfig(pes=args.pes) if args.pes is not None else None
    stats = simulate(args.model, data, args.images, board=args.board, config=config,
                     netlist=args.netlist, waves=args.waves, baud=args.baud,
                     link_v1=args.link_v1,
                     progress=not args.json)
    status = 0 if stats["mismatches"] == 0 else 1
    if args.json:
        print(json.dumps(stats, indent=2))
        return status
    where = f"the {args.board} board top" if args.board else "the RTL"
    if args.netlist:
        where = f"the {args.board} gate-level netlist"
    print(f"{data.describe(stats['images'])} on {where} ({stats['pes']} PEs, Verilator): "
          f"{stats['mismatches']} differ from the golden model, {stats['errors']} misclassified "
          f"({stats['errors'] / stats['images']:.2%})")
    print(f"cycles per image: {stats['cycles_mean']:.0f} (ideal {stats['ideal_cycles_mean']:.0f},"
          f" {stats['cycles_over_ideal']:.3f}x; dense {stats['dense_cycles_mean']:.0f}, "
          f"{stats['dense_over_cycles']:.1f}x fewer)")
    if "images_per_second" in stats:
        long_run = stats.get("images_per_second_long")
        print(f"UART {stats['baud']:,} baud at {stats['clock_mhz']:g} MHz: "
              f"{stats['images_per_second']:.1f} images/s on this run"
              + (f", {long_run:.1f} on a long one" if long_run else "")
              + f" ({stats['request_bytes_mean']:.0f}-byte requests; the wire alone allows "
              f"{stats['images_per_second_wire']:.1f})")
    first = stats["first_mismatch"]
    if first is not None:
        print(f"first difference: image {first['image']}, layer {first['layer']}, output "
              f"{first['output']}: RTL {first['rtl']}, golden model {first['golden']}")
    if "waves" in stats:
        print(f"waveforms: {stats['waves']}")
    return status
