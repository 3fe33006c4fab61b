"""Multi-process training through torchrun: 2 CPU processes (gloo) end with identical weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from colorlab.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[1]

WORKER = textwrap.dedent(
    """
    import os, sys, torch
    from colorlab.config import get_preset
    from colorlab.train import train

    out, dump = sys.argv[1], sys.argv[2]
    rank = int(os.environ["RANK"])

    class Dump:
        def on_step(self, step, history, state):
            if step == 1:  # each rank trains on its own share of the batch
                self.first_real = state.batch[2].sum().item()
        def on_train_end(self, history, state):
            torch.save({"G": state.G.state_dict(), "D": state.D.state_dict(),
                        "first_real": self.first_real, "steps": history["step"],
                        "world": int(os.environ["WORLD_SIZE"])},
                       os.path.join(dump, f"rank{rank}.pt"))

    cfg = get_preset("quick", "quick").replace(
        n_images=40, batch_size=4, image_size=32, max_steps=3, log_every=1,
        generator_kwargs={"num_downs": 5, "ngf": 8}, discriminator_kwargs={"n_layers": 2, "ndf": 8})
    train(cfg, out, callbacks=[Dump()], progress=False)
    """
)


def test_two_cpu_processes_train_to_identical_weights(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    out, dump = tmp_path / "run", tmp_path / "dump"
    dump.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(script),
        str(out),
        str(dump),
    ]
    try:
        proc = subprocess.run(
            cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
        )
    except subprocess.TimeoutExpired:
        pytest.fail("torchrun with 2 processes did not finish within 180 s")
    assert proc.returncode == 0, proc.stderr[-3000:]

    r0 = torch.load(dump / "rank0.pt", weights_only=True)
    r1 = torch.load(dump / "rank1.pt", weights_only=True)
    assert r0["world"] == r1["world"] == 2 and r0["steps"] == r1["steps"] == [1, 2, 3]
    assert r0["first_real"] != r1["first_real"]  # the ranks saw different images ...
    for net in ("G", "D"):
        params = [k for k in r0[net] if "running" not in k and "num_batches" not in k]
        for k in params:  # ... and ended with the same weights (gradients all-reduced)
            assert torch.equal(r0[net][k], r1[net][k]), (net, k)

    # only rank 0 wrote the run folder, and its checkpoint holds those weights
    state = load_checkpoint(out / "last.pt")
    for k in state["generator"]:
        assert torch.equal(state["generator"][k], r0["G"][k])
    starts = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert sum(1 for rec in starts if rec.get("event") == "start") == 1
    assert "rank 0/2" in starts[0]["runtime"]
