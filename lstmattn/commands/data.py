"""``lstmattn data verify|prepare|phantoms``: check, derive and synthesise data sets."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register"]

_LAYOUTS = """expected ROOT layouts (see data_manifests/*.yaml):
  covidx-ct-1        ROOT/{train,val,test}_COVIDx_CT-1.txt + ROOT/images/ (or 2A_images/)
  covidx-ct-sample   ROOT/labels.txt + ROOT/images/
  cncb-segmentation  ROOT/{train,test}_split_segmentation.txt + ROOT/imgs/ + ROOT/masks/
  ictcf              ROOT/{train,test}_ictcf.txt + ROOT/images/ (0_nCT*.jpg, 2_pCT*.jpg)
  medseg-semiseg     ROOT/Imgs/ + ROOT/GT/
  sarscov2-ct        ROOT/COVID/ + ROOT/non-COVID/ (one folder per class)"""


def _verify(args: argparse.Namespace) -> int:
    from lstmattn.data.verify import verify_dataset

    report = verify_dataset(
        args.root,
        args.manifest,
        check_images=args.check_images,
        image_dir=args.image_dir,
        mask_dir=args.mask_dir,
        workers=args.workers,
        progress=sys.stderr.isatty(),
    )
    print(report.summary(max_per_kind=None if args.all else 20), file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 1


def _prepare(args: argparse.Namespace) -> int:
    from lstmattn.data.prepare import DERIVED_SPLITS_FILE, prepare_covidx_subsets

    written = prepare_covidx_subsets(
        args.root,
        train_file=args.train_file,
        out_dir=args.out,
        seed=args.seed,
        per_class=args.per_class,
        authors_list=args.authors_list,
        force=args.force,
    )
    out = Path(args.out or args.root)
    for name, entry in written.items():
        print(f"wrote {out / name}: {entry['lines']:,} lines, sha256 {entry['sha256']}")
    print(f"recorded in {out / DERIVED_SPLITS_FILE}")
    train_list, holdout_list = written
    print(f"a run reads them with data.train_list: {train_list} and data.holdout_list: {holdout_list} "
          "(the seed-0 lists are the default)")
    return 0


def _phantoms(args: argparse.Namespace) -> int:
    from lstmattn.data.phantom import PhantomConfig, write_phantom_dataset

    write_phantom_dataset(
        args.out,
        n_classification={"train": args.n_train, "val": args.n_val, "test": args.n_test, "holdout": args.n_holdout},
        n_segmentation={"train": args.n_seg_train, "test": args.n_seg_test},
        config=PhantomConfig(image_size=args.size),
        seed=args.seed,
    )
    print(f"wrote phantom data set to {args.out}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``data`` command group to the top-level parser."""
    data = subparsers.add_parser("data", help="check, derive and synthesise data sets")
    commands = data.add_subparsers(dest="data_command", required=True)

    verify = commands.add_parser(
        "verify", help="check a copy of a real data set against its manifest",
        description="Check split-file hashes and counts and every listed image; report all problems. "
                    "Exit status 1 when any problem is found.",
        epilog=_LAYOUTS, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verify.add_argument("root", type=Path, help="data set folder")
    verify.add_argument("--manifest", help="manifest name or YAML path (default: detected from ROOT)")
    verify.add_argument("--check-images", action=argparse.BooleanOptionalAction, default=True,
                        help="open every listed image and mask (default: on)")
    verify.add_argument("--image-dir", type=Path, help="image folder, overriding the manifest's layout")
    verify.add_argument("--mask-dir", type=Path, help="mask folder, overriding the manifest's layout")
    verify.add_argument("--workers", type=int, default=None, help="threads for image checks")
    verify.add_argument("--all", action="store_true", help="list every problem, not 20 per kind")
    verify.set_defaults(func=_verify)

    prepare = commands.add_parser(
        "prepare", help="write the 3,000-slice training subset and hold-out lists of COVIDx CT-1",
        description="Derive train3000_*/holdout_* split lists from train_COVIDx_CT-1.txt "
                    "(seeded stratified draw, or the authors' list) and record their hashes.",
    )
    prepare.add_argument("root", type=Path, help="COVIDx CT-1 folder holding train_COVIDx_CT-1.txt")
    prepare.add_argument("--train-file", type=Path, help="train list, if not ROOT/train_COVIDx_CT-1.txt")
    prepare.add_argument("--out", type=Path, help="output folder (default: ROOT)")
    prepare.add_argument("--seed", type=int, default=0, help="seed of the stratified draw (default: 0)")
    prepare.add_argument("--per-class", type=int, default=1000, help="slices per class (default: 1000)")
    prepare.add_argument("--authors-list", type=Path, help="convert the authors' train_split_classification.txt instead")
    prepare.add_argument("--force", action="store_true", help="derive even if the train list's hash is not CT-1's")
    prepare.set_defaults(func=_prepare)

    phantoms = commands.add_parser("phantoms", help="write the synthetic CT phantom data set")
    phantoms.add_argument("--out", type=Path, required=True, help="output folder")
    phantoms.add_argument("--n-train", type=int, default=200, help="classification train slices per class")
    phantoms.add_argument("--n-val", type=int, default=50, help="classification val slices per class")
    phantoms.add_argument("--n-test", type=int, default=100, help="classification test slices per class")
    phantoms.add_argument("--n-holdout", type=int, default=100, help="hold-out slices per class (Table 3 stand-in)")
    phantoms.add_argument("--n-seg-train", type=int, default=120, help="segmentation train slices")
    phantoms.add_argument("--n-seg-test", type=int, default=40, help="segmentation test slices")
    phantoms.add_argument("--size", type=int, default=512, help="image side in pixels")
    phantoms.add_argument("--seed", type=int, default=0, help="random seed")
    phantoms.set_defaults(func=_phantoms)
