"""The ``tinyeie`` command line."""

import json
import sys

from tinyeie.cli import board, engine
from tinyeie.cli.options import Parser, integer, list_of, number
from tinyeie.contract.errors import TinyeieError
from tinyeie.sw.outputs import check_output_dir, check_output_file

__all__ = ["main"]

def cmd_train(args):
    from tinyeie.sw.compress.floatfile import save_float
    from tinyeie.sw.compress.nets import build, parse_arch
    from tinyeie.sw.compress.train import default_train_config, train
    from tinyeie.sw.mnist import load_mnist, training_set

    arch = parse_arch(args.model)
    check_output_file(args.output, "float model file")
    cfg = default_train_config(arch, epochs=args.epochs, lr=args.lr, batch=args.batch,
                               augment=args.augment, seed=args.seed)
    x, y = training_set()
    xt, yt = load_mnist()["test"]
    net = build(arch, seed=args.seed)
    train(net, x, y, cfg, desc=f"train {args.model}")
    err = net.error(xt, yt)
    save_float(args.output, net, {"train": cfg.as_dict(), "test_error": err})
    print(f"{args.model}: test error {err:.2%}, written to {args.output}")
    return 0


_quality_list = list_of(number(0), "numbers (standard deviations, at least 0)")
_bits_list = list_of(integer(1, 8), "integers 1..8")


def cmd_compress(args):
    from tinyeie.sw.compress.floatfile import load_float
    from tinyeie.sw.compress.modelfile import save_model
    from tinyeie.sw.compress.pipeline import check_config, compress, default_config
    from tinyeie.sw.mnist import load_mnist, training_set

    net, _ = load_float(args.input)
    check_output_file(args.output, "compressed model file")
    cfg = default_config(net.arch, len(net.params))
    if args.quality:
        cfg.quality = args.quality
    if args.bits:
        cfg.bits = args.bits
    cfg.prune_iterations = args.prune_iterations
    cfg.init = args.init
    cfg.seed = args.seed
    cfg.sweep = not args.no_sweep
    cfg.retrain.seed = cfg.finetune.seed = args.seed
    if args.retrain_epochs is not None:
        cfg.retrain.epochs = args.retrain_epochs
    if args.finetune_epochs is not None:
        cfg.finetune.epochs = args.finetune_epochs
    check_config(cfg, len(net.params))
    model = compress(net, training_set(), load_mnist()["test"], cfg)
    save_model(args.output, model)
    print(f"written to {args.output}; `tinyeie stats {args.output}` for its tables")
    return 0


def cmd_stats(args):
    from tinyeie.sw.compress.modelfile import load_model
    from tinyeie.sw.compress.sizes import HardwareStorage
    from tinyeie.sw.compress.stats import format_table, model_stats
    from tinyeie.sw.mnist import load_mnist

    model = load_model(args.model)
    stats = model_stats(model, load_mnist()["test"], HardwareStorage(pes=args.pes))
    if args.json:
        print(json.dumps(stats, indent=2))
    else:
        print(format_table(stats))
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
    parser = Parser(prog="tinyeie", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a network on MNIST (float32)")
    p.add_argument("model", help="lenet300, lenet5 or mlp:784-...-10")
    p.add_argument("-o", "--output", required=True, help="float model file (.npz)")
    p.add_argument("--epochs", type=integer(1), help="default 30 for MLPs, 20 for lenet5")
    p.add_argument("--lr", type=number(0, low_open=True),
                   help="initial learning rate (cosine decay)")
    p.add_argument("--batch", type=integer(1), default=64, help="minibatch size (64)")
    p.add_argument("--augment", type=integer(0, 8), default=2,
                   help="random shift in pixels, 0..8 (0: off; default 2)")
    p.add_argument("--seed", type=integer(0), default=0)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("compress", help="prune, quantise and Huffman-code a float model")
    p.add_argument("input", help="float model (.npz from `tinyeie train`, or w0,b0,... arrays)")
    p.add_argument("-o", "--output", required=True, help="compressed model file (.npz)")
    p.add_argument("--quality", type=_quality_list,
                   help="pruning threshold in layer standard deviations, one or per layer")
    p.add_argument("--bits", type=_bits_list,
                   help="codebook index bits, one or per layer (4 = the engine's format)")
    p.add_argument("--prune-iterations", type=integer(1), default=3)
    p.add_argument("--retrain-epochs", type=integer(0),
                   help="epochs of retraining per iteration")
    p.add_argument("--finetune-epochs", type=integer(0), help="epochs of centroid fine-tuning")
    p.add_argument("--init", default="linear", help="k-means init: linear, forgy or density")
    p.add_argument("--seed", type=integer(0), default=0)
    p.add_argument("--no-sweep", action="store_true",
                   help="skip the accuracy-against-compression sweep (Fig. 6 of the report)")
    p.set_defaults(func=cmd_compress)

    p = sub.add_parser("stats", help="per-layer sizes and test error of a compressed model")
    p.add_argument("model")
    p.add_argument("--pes", type=integer(1, 64), default=4,
                   help="PEs for the engine-format size (1..64)")
    p.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("decompress", help="the dense float weights of a compressed model")
    p.add_argument("model")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=cmd_decompress)

    p = sub.add_parser("report", help="PNG plots of a compressed model (paper Figs. 4-6)")
    p.add_argument("model")
    p.add_argument("-o", "--output", required=True, help="directory for the PNG files")
    p.set_defaults(func=cmd_report)

    # The engine's and the boards' commands have files of their own.
    engine.register(sub)
    board.register(sub)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except TinyeieError as e:
        print(f"tinyeie: error: {e}", file=sys.stderr)
        return 2
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
