"""Resume after any kill: a training run SIGKILLed at every write boundary resumes bit-identically.

`vmieval.outputs.write_hook` is called at each boundary of each atomic write (temporary file created,
written, renamed). A forked child trains with a hook that SIGKILLs it at boundary k (deterministic,
no timing); the parent then resumes with `--resume` semantics and must reach exactly the weights,
Q network and history of an uninterrupted run, with no temporary file left behind.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch
from forked import wait_or_fail
from vmieval.trainers import resolve_config, train
from vmieval.trainers.resume import load_sidecar, save_sidecar, sidecar_path

from vmieval import outputs as atomic
from vmieval.checkpoints import read_payload
from vmieval.errors import CheckpointError

EPOCHS = 2
BOUNDARIES = EPOCHS * 2 * len(atomic.STAGES)  # per epoch: the sidecar, then the checkpoint


def tiny_config():
    return resolve_config(
        "sample-joint", epochs=EPOCHS, limit=128, heldout=64, batch_size=32, arch_config={"hidden": [32]},
        q_hidden=16, device="cpu",
    )  # fmt: skip


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """An uninterrupted run, counting the write boundaries it passes."""
    stages: list[str] = []
    atomic.write_hook = lambda stage, path: stages.append(stage)
    try:
        result = train(tiny_config(), tmp_path_factory.mktemp("reference") / "m.pt")
    finally:
        atomic.write_hook = None
    return {"result": result, "stages": stages, "payload": read_payload(result.path)}


def test_every_boundary_is_counted(reference: dict) -> None:
    assert len(reference["stages"]) == BOUNDARIES
    assert reference["stages"][:3] == list(atomic.STAGES)


def _killed_at(config, path: Path, boundary: int) -> int:
    """Train in a forked child that SIGKILLs itself at write boundary `boundary`; its wait status."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            passed = [0]

            def hook(stage: str, where: Path) -> None:
                if passed[0] == boundary:
                    os.kill(os.getpid(), signal.SIGKILL)
                passed[0] += 1

            atomic.write_hook = hook
            train(config, path, resume=True)
        except BaseException:  # noqa: BLE001 - any failure in the child is reported by its exit code
            code = 1
        finally:
            os._exit(code)
    return wait_or_fail(pid, f"the child killed at boundary {boundary}")


def _same_states(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _without_timing(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in history]


@pytest.mark.parametrize("boundary", range(BOUNDARIES))
def test_resume_after_a_kill_at_every_write_boundary(tmp_path: Path, reference: dict, boundary: int) -> None:
    config, path = tiny_config(), tmp_path / "m.pt"
    status = _killed_at(config, path, boundary)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
    resumed = train(config, path, resume=True)
    expected = reference["result"]
    assert [r["epoch"] for r in resumed.history] == list(range(1, EPOCHS + 1))
    assert _same_states(reference["payload"]["state_dict"], read_payload(path)["state_dict"])
    assert _same_states(load_sidecar(expected.resume_path)["q"], load_sidecar(resumed.resume_path)["q"])
    assert _without_timing(expected.history) == _without_timing(resumed.history)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt", "m.resume.pt"]  # no stray .tmp


def test_checkpoint_one_save_behind_its_sidecar_is_repaired(tmp_path: Path, reference: dict) -> None:
    """The state a kill between the two writes leaves: the sidecar at epoch 2, the checkpoint at 1."""
    config, path = tiny_config(), tmp_path / "m.pt"
    train(config.replace(epochs=1), path)
    behind = path.read_bytes()
    train(config, path, resume=True)
    path.write_bytes(behind)
    resumed = train(config, path, resume=True)
    assert resumed.history[-1]["epoch"] == EPOCHS
    assert _same_states(reference["payload"]["state_dict"], read_payload(path)["state_dict"])


def test_a_damaged_resume_state_is_one_checkpoint_error(tmp_path: Path) -> None:
    config, path = tiny_config().replace(epochs=1), tmp_path / "m.pt"
    train(config, path)
    side = load_sidecar(sidecar_path(path))
    save_sidecar(sidecar_path(path), side["config"], 1, {"weight": torch.zeros(3)}, side["optimisers"], {})
    with pytest.raises(CheckpointError, match="resume state does not fit|not a usable"):
        train(config.replace(epochs=2), path, resume=True)
    torch.save({"format": "vmieval-train-resume", "epochs_done": "1"}, sidecar_path(path))
    with pytest.raises(CheckpointError, match="epochs_done"):
        train(config.replace(epochs=2), path, resume=True)


def test_a_resume_file_from_before_it_held_the_checkpoint_still_resumes(tmp_path: Path, reference: dict) -> None:
    """Version 1 sidecars (no embedded checkpoint) pair with the checkpoint file, as they used to."""
    config, path = tiny_config(), tmp_path / "m.pt"
    train(config.replace(epochs=1), path)
    side = load_sidecar(sidecar_path(path))
    generators = {}
    for name, state in side["rng"].items():
        generators[name] = torch.Generator()
        generators[name].set_state(state)
    save_sidecar(sidecar_path(path), side["config"], 1, side["q"], side["optimisers"], generators)
    assert "checkpoint" not in load_sidecar(sidecar_path(path))
    resumed = train(config, path, resume=True)
    assert _without_timing(reference["result"].history) == _without_timing(resumed.history)
    assert _same_states(reference["payload"]["state_dict"], read_payload(path)["state_dict"])
