"""The boards' subcommands: ``tinyeie build``, ``tinyeie program``, ``tinyeie infer``."""

import json
from pathlib import Path

from tinyeie.cli.options import integer
from tinyeie.contract.errors import TinyeieError
from tinyeie.sw.outputs import check_output_dir

__all__ = ["register"]


def cmd_build(args):
    from tinyeie.boards.boards import board
    from tinyeie.boards.build import build_board

    b = board(args.board)
    if not Path(args.model).exists():
        raise TinyeieError(f"model {args.model} does not exist (a model image from `tinyeie "
                           f"pack`, or a compressed model .npz)")
    build_dir = args.output or Path("build") / b.name
    check_output_dir(build_dir, "build folder")
    fields = build_board(b, args.model, pes=args.pes, build_dir=build_dir,
                         progress=not args.json)
    if args.json:
        print(json.dumps(fields, indent=2))
        return 0
    print(f"{b.description}, {fields['pes']} PEs:")
    print(f"  logic {fields['luts']:,} of {fields['luts_total']:,}, block RAM {fields['bram']} "
          f"of {fields['bram_total']}" + (f", SPRAM {fields['spram']} of {fields['spram_total']}"
                                          if "spram" in fields else "")
          + f", DSP {fields['dsps']} of {fields['dsps_total']}")
    verdict = "met" if fields["timing_met"] else "NOT MET"
    print(f"  Fmax {fields['fmax_mhz']:.1f} MHz for a {fields['clock_mhz']:.1f} MHz clock "
          f"(timing {verdict})")
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
                  flash=args.flash)
    print(f"{b.name} programmed")
    return 0


def _input_pixels(args):
    """The 784 pixels in [0, 1) to classify, and their label if known."""
    from tinyeie.sw.mnist import load_mnist, read_digit_image

    if args.image:
        return read_digit_image(args.image), None
    x, y = load_mnist()["test"]
    if not 0 <= args.mnist_index < len(x):
        raise TinyeieError(f"--mnist-index must be 0..{len(x) - 1}, not {args.mnist_index}")
    return x[args.mnist_index], int(y[args.mnist_index])


def cmd_infer(args):
    from tinyeie.sw.compiler.compile import golden_logits
    from tinyeie.sw.compiler.golden import classify, input_activations
    from tinyeie.sw.compiler.image import image_path, load_image
    from tinyeie.sw.host.board import Board

    # The golden answer comes from the model image the board holds (or is about to); read and
    # checked before the port is opened, so a bad file fails without touching the board.
    packed = load_image(args.load or args.image_file)
    host = Board.open(args.port, baudrate=args.baud)
    if args.load:
        host.load(image_path(args.load).read_bytes())
    status = host.status()
    if not status.model_valid:
        raise TinyeieError(f"the board has no valid model (last loader error: "
                           f"{status.last_loader_error_name}): load one with `tinyeie infer "
                           f"--port {args.port} --load build/BOARD/model`")
    pixels, label = _input_pixels(args)
    inputs = input_activations(pixels, packed.config)
    result = host.infer(inputs)
    golden = golden_logits(packed, inputs[None])[0]
    same = list(result.logits) == [int(v) for v in golden]
    print(f"class {result.cls}" + (f" (label {label})" if label is not None else "")
          + f", {result.cycles} engine cycles")
    print(f"logits  {list(result.logits)}")
    print(f"golden  {[int(v) for v in golden]}: class {int(classify(golden))}, "
          + ("the board matches it bit for bit" if same else "THE BOARD DIFFERS"))
    return 0 if same else 1


def register(sub):
    from tinyeie.boards.boards import BOARDS

    names = ", ".join(sorted(BOARDS))
    p = sub.add_parser("build", help="bitstream, model image and flash image for a board")
    p.add_argument("--board", required=True, help=names)
    p.add_argument("model", help="compressed model (.npz)")
    p.add_argument("--pes", type=integer(1), help="processing elements (default: the board's)")
    p.add_argument("-o", "--output", help="build folder (default build/BOARD)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("program", help="write a built bitstream and model to a board")
    p.add_argument("--board", required=True, help=names)
    p.add_argument("--build-dir", help="the build folder (default build/BOARD)")
    p.add_argument("--model-only", action="store_true",
                   help="iCE40: write only the model image, at its flash offset")
    p.add_argument("--flash", action="store_true",
                   help="ECP5: write the flash (kept at power-off) instead of the FPGA's SRAM")
    p.set_defaults(func=cmd_program)

    p = sub.add_parser("infer", help="classify an image on a board over its UART")
    p.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB1")
    p.add_argument("--baud", type=integer(300, 12_000_000), default=115200)
    source = p.add_mutually_exclusive_group()
    source.add_argument("--mnist-index", type=integer(0, 9999), default=0,
                        help="an MNIST test image, 0..9999 (default 0)")
    source.add_argument("image", nargs="?", help="a 28x28 PNG (white or dark digit)")
    p.add_argument("--model-image", dest="image_file", default="build/icebreaker/model",
                   help="the model image the board holds (model.bin or its folder), for the "
                        "golden model's answer (default build/icebreaker/model)")
    p.add_argument("--load", help="first load this model image (model.bin or `tinyeie pack` "
                   "folder) onto the board; the golden answer then comes from it")
    p.set_defaults(func=cmd_infer)
