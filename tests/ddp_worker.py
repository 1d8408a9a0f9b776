"""Worker for the DDP test: ``torchrun --nproc_per_node 2 tests/ddp_worker.py RUN_DIR``."""

import sys
from pathlib import Path

import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).parent))
from engine_fixtures import toy_bundle, toy_config  # noqa: E402
from lstmattn.engine.runs import RunDirectory  # noqa: E402
from lstmattn.engine.trainer import train  # noqa: E402

if __name__ == "__main__":
    run = RunDirectory(Path(sys.argv[1]))
    state = train(toy_config(max_steps=2), run, data=toy_bundle(), progress=False, device="cpu")
    rank = dist.get_rank()
    (run.path / f"rank{rank}.txt").write_text(f"{state.step}\n")
    dist.destroy_process_group()
