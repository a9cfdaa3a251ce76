"""The ``tinyeie`` command line."""

import json
import sys

from tinyeie.cli import board, engine
from tinyeie.cli.options import HelpFormatter, Parser, add_data_option, integer, list_of, number
from tinyeie.contract.errors import TinyeieError
from tinyeie.sw.compress.importer import LAYOUTS
from tinyeie.sw.outputs import check_output_dir, check_output_file

__all__ = ["main"]

def cmd_train(args):
    from tinyeie.flow import load_data, train
    from tinyeie.sw.compress.floatfile import save_float

    check_output_file(args.output, "float model file")
    data = load_data(args.data)
    net, meta = train(args.model, data, epochs=args.epochs, lr=args.lr, batch=args.batch,
                      augment=args.augment, seed=args.seed)
    save_float(args.output, net, meta)
    print(f"{net.arch}: test error {meta['test_error']:.2%} on the "
          f"{data.describe(len(data.test[1]))}, written to {args.output}")
    return 0


_quality_list = list_of(number(0), "numbers (standard deviations, at least 0)")
_bits_list = list_of(integer(1, 8), "integers 1..8")


def cmd_compress(args):
    from tinyeie.flow import compress, import_network, load_data, save_model

    data = load_data(args.data)
    net, notes = import_network(args.input, args.layout, data)
    for note in notes:
        print(f"note: {note}")
    check_output_file(args.output, "compressed model file")
    model = compress(net, data, quality=args.quality, bits=args.bits,
                     prune_iterations=args.prune_iterations, retrain_epochs=args.retrain_epochs,
                     finetune_epochs=args.finetune_epochs, init=args.init, seed=args.seed,
                     sweep=not args.no_sweep)
    save_model(model, args.output)
    more = f" --data {args.data}" if args.data else ""
    print(f"written to {args.output}; `tinyeie stats {args.output}{more}` for its tables")
    return 0


def cmd_stats(args):
    from tinyeie.flow import stats
    from tinyeie.sw.compress.stats import format_table

    result = stats(args.model, args.data, pes=args.pes)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_table(result))
    return 0


def cmd_decompress(args):
    from tinyeie.sw.compress.modelfile import load_model, save_dense

    check_output_file(args.output, "dense model file")
    model = load_model(args.model)
    save_dense(args.output, model)
    print(f"{len(model.layers)} dense layers written to {args.output}")
    return 0


def cmd_report(args):
    from tinyeie.sw.compress.modelfile import load_model

    check_output_dir(args.output, "report folder")
    model = load_model(args.model)
    from tinyeie.sw.compress.report import write_report  # matplotlib: only for a good model
    for path in write_report(model, args.output):
        print(path)
    if "sweep" not in model.history:
        print("(no Fig. 6 sweep recorded: the model was compressed with --no-sweep)")
    return 0


def build_parser():
    parser = Parser(prog="tinyeie", description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a network (float32) on MNIST or your data")
    p.add_argument("model", help="lenet300, lenet5 or mlp:SIZES such as mlp:784-64-10 or "
                   "mlp:32-16-5 (inputs-hidden-...-outputs)")
    p.add_argument("-o", "--output", required=True, help="float model file (.npz)")
    p.add_argument("--epochs", type=integer(1), help="default 30 for MLPs, 20 for lenet5")
    p.add_argument("--lr", type=number(0, low_open=True), help="initial learning rate, cosine "
                   "decay (default 0.05 for MLPs, 0.01 for lenet5)")
    p.add_argument("--batch", type=integer(1), default=64, help="minibatch size")
    p.add_argument("--augment", type=integer(0, 8), help="largest random shift of MNIST's "
                   "pictures, in pixels, 0..8; 0 turns it off (default 2 for MNIST, 0 for other "
                   "data)")
    p.add_argument("--seed", type=integer(0), default=0, help="random seed")
    add_data_option(p, "the data to train and test on")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("compress", help="prune, quantise and Huffman-code a float model")
    p.add_argument("input", help="float model: .npz from `tinyeie train`, .npz arrays w0, b0, "
                   "w1, b1, ..., or .onnx (torch.onnx.export, skl2onnx)")
    p.add_argument("-o", "--output", required=True, help="compressed model file (.npz)")
    p.add_argument("--layout", choices=sorted(LAYOUTS),
                   help="how .npz arrays w_i are laid out: out-in (PyTorch) or in-out (Keras, "
                        "scikit-learn); default: read from the shapes")
    p.add_argument("--quality", type=_quality_list,
                   help="pruning threshold in layer standard deviations, one or per layer "
                        "(default: LeNet presets, else 1.5 per hidden layer and 0.7 for the "
                        "last)")
    p.add_argument("--bits", type=_bits_list,
                   help="codebook index bits, one or per layer (default 4, the engine's format)")
    p.add_argument("--prune-iterations", type=integer(1), default=3, help="prune-retrain rounds")
    p.add_argument("--retrain-epochs", type=integer(0),
                   help="epochs of retraining per iteration (default 4)")
    p.add_argument("--finetune-epochs", type=integer(0),
                   help="epochs of centroid fine-tuning (default 3)")
    p.add_argument("--init", default="linear", help="k-means init: linear, forgy or density")
    p.add_argument("--seed", type=integer(0), default=0, help="random seed")
    p.add_argument("--no-sweep", action="store_true",
                   help="skip the accuracy-against-compression sweep (Fig. 6 of the report)")
    add_data_option(p, "the data to retrain and test on")
    p.set_defaults(func=cmd_compress)

    p = sub.add_parser("stats", help="per-layer sizes and test error of a compressed model")
    p.add_argument("model", help="compressed model (.npz)")
    p.add_argument("--pes", type=integer(1, 64), default=4,
                   help="PEs of the engine whose image is measured (1..64; hw_bytes: the "
                        "model.bin `tinyeie pack --pes N` writes)")
    p.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    add_data_option(p, "the data to test on")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("decompress", help="the dense float weights of a compressed model")
    p.add_argument("model", help="compressed model (.npz)")
    p.add_argument("-o", "--output", required=True, help="float model file (.npz) to write")
    p.set_defaults(func=cmd_decompress)

    p = sub.add_parser("report", help="PNG plots of a compressed model (paper Figs. 4-6)")
    p.add_argument("model", help="compressed model (.npz)")
    p.add_argument("-o", "--output", required=True, help="directory for the PNG files")
    p.set_defaults(func=cmd_report)

    # The engine's and the boards' commands have files of their own.
    engine.register(sub)
    board.register(sub)
    for command in sub.choices.values():
        command.formatter_class = HelpFormatter
    return parser


def _version():
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("tinyeie")
    except PackageNotFoundError:
        return "(not installed)"


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except TinyeieError as e:
        print(f"tinyeie: error: {e}", file=sys.stderr)
        return e.exit_status
    except OSError as e:  # an output that cannot be written, a disk that is full
        print(f"tinyeie: error: {e.strerror or e}: {e.filename or ''}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tinyeie: interrupted", file=sys.stderr)
        return 130


def _entry():
    sys.exit(main())


if __name__ == "__main__":
    _entry()
