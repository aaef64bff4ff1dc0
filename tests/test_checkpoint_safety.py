"""Checkpoints and run folders lose nothing: damaged files give one clear error and change nothing,
loads are all or nothing, optimizer states of another shape are refused, a run folder is never
overwritten or resumed by accident, and a save killed at any moment leaves a loadable checkpoint."""
import json
import os
import random
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

import tinygrad_lm as tg
from tinygrad_lm import cli
from tinygrad_lm.train.checkpoint import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint

from test_cli import cli_status as _status


def _model(n_in=3, n_out=2, seed=0):
    tg.manual_seed(seed)
    return tg.nn.Sequential(tg.nn.Linear(n_in, 4), tg.nn.Tanh(), tg.nn.Linear(4, n_out))


def _stepped(model, opt):
    opt.zero_grad()
    x = tg.tensor(np.random.default_rng(0).normal(size=(5, model[0].in_features)).astype(np.float32))
    model(x).sum().backward()
    opt.step()
    return model, opt


def _snapshot(model, opt=None):
    state = {k: v.clone() for k, v in model.state_dict().items()}
    if opt is not None:
        sd = opt.state_dict()
        state.update({f"opt/{i}/{n}": np.array(v) for i, s in sd["state"].items() for n, v in s.items()})
        state.update({f"group/{k}": np.array(v) for k, v in sd["param_groups"][0].items()})
    return state


def _assert_unchanged(before, after):
    assert before.keys() == after.keys()
    for k in before:
        np.testing.assert_array_equal(before[k], after[k], err_msg=k)


def _temporaries(folder):
    return [n for n in os.listdir(folder) if "tmp" in n]


# ---------------------------------------------------------------- damaged files
def _damage(kind, path):
    """Write a damaged or foreign file of the given kind at ``path``."""
    if kind in ("truncated", "bit-flip"):
        save_checkpoint(path, _model(), None, epoch=1)
        data = bytearray(path.read_bytes())
        if kind == "truncated":
            data = data[:len(data) // 2]
        else:  # inside the first array's bytes: only the CRC can tell
            data[200] ^= 0xFF
        path.write_bytes(bytes(data))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "random bytes":
        path.write_bytes(np.random.default_rng(1).bytes(3000))
    elif kind == "pickle":
        path.write_bytes(b"\x80\x04\x95" + b"x" * 50)
    elif kind == "zip of other things":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("readme.txt", "hello")
    elif kind == "npz of other arrays":
        np.savez(path, a=np.arange(3))
    elif kind == "npz with objects":
        with open(path, "wb") as f:
            np.savez(f, meta=np.array([{"x": 1}], dtype=object), **{"model/0.weight": np.zeros((4, 3))})
    elif kind == "meta not JSON":
        np.savez(path, meta=np.frombuffer(b"\xff{not json", np.uint8), **{"model/0.weight": np.zeros((4, 3))})
    elif kind == "folder":
        path.mkdir()


DAMAGE = ["truncated", "bit-flip", "empty", "random bytes", "pickle", "zip of other things", "npz of other arrays",
          "npz with objects", "meta not JSON", "folder"]


@pytest.mark.parametrize("kind", DAMAGE)
def test_damaged_checkpoint_is_one_clear_error_and_changes_nothing(kind, tmp_path):
    path = tmp_path / "checkpoint.npz"
    _damage(kind, path)
    model = _model(seed=5)
    opt = tg.optim.Adam(model.parameters())
    _stepped(model, opt)
    before, rng = _snapshot(model, opt), tg.backend.rng().bit_generator.state
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, model, opt)
    message = str(info.value)
    assert str(path) in message and ("damaged" in message or "no checkpoint" in message), message
    assert "allow_pickle" not in message and "pickle=" not in message
    _assert_unchanged(before, _snapshot(model, opt))
    assert tg.backend.rng().bit_generator.state == rng


def test_another_models_checkpoint_is_refused_and_changes_nothing(tmp_path):
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, _model(n_in=5), None)
    model = _model()
    before = _snapshot(model)
    with pytest.raises(CheckpointError, match=r"another model.*0\.weight.*\(4, 5\).*\(4, 3\)"):
        load_checkpoint(path, model)
    _assert_unchanged(before, _snapshot(model))
    save_checkpoint(path, tg.nn.Linear(3, 2))  # another class altogether
    with pytest.raises(CheckpointError, match="holds a Linear, not a Sequential"):
        load_checkpoint(path, model)


def test_load_is_all_or_nothing_for_model_optimizer_and_rng(tmp_path):
    """The model's arrays fit but the optimizer's state is another shape: nothing is taken."""
    path = tmp_path / "checkpoint.npz"
    donor = _model()
    donor_opt = tg.optim.Adam(donor.parameters())
    _stepped(donor, donor_opt)
    save_checkpoint(path, donor, donor_opt)
    arrays, meta = read_checkpoint(path)
    arrays["optim/0/exp_avg"] = np.zeros((7, 7), np.float32)  # a state of another shape
    with open(path, "wb") as f:
        np.savez(f, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8), **arrays)
    model = _model(seed=3)
    opt = tg.optim.Adam(model.parameters(), lr=0.5)
    _stepped(model, opt)
    tg.manual_seed(123)
    before, rng = _snapshot(model, opt), tg.backend.rng().bit_generator.state
    with pytest.raises(CheckpointError, match=r"exp_avg.*parameter 0.*\(7, 7\).*\(4, 3\)"):
        load_checkpoint(path, model, opt)
    _assert_unchanged(before, _snapshot(model, opt))
    assert tg.backend.rng().bit_generator.state == rng


def test_module_load_state_dict_is_all_or_nothing():
    model, other = _model(), _model(seed=9)
    before = _snapshot(model)
    bad = other.state_dict()
    bad["2.bias"] = np.zeros(3)  # the last key is the wrong one: the first ones must not have been taken
    with pytest.raises(ValueError, match=r"'2\.bias' has shape \(3,\).*\(2,\)"):
        model.load_state_dict(bad)
    _assert_unchanged(before, _snapshot(model))
    bad = other.state_dict()
    bad["2.bias"] = np.array(["a", "b"])
    with pytest.raises(ValueError, match="dtype"):
        model.load_state_dict(bad)
    del bad["2.bias"]
    with pytest.raises(ValueError, match=r"missing keys \['2\.bias'\]"):
        model.load_state_dict(bad)
    _assert_unchanged(before, _snapshot(model))


# ---------------------------------------------------------------- optimizer states
def test_adam_state_of_a_smaller_model_is_refused_not_a_crash():
    """The issue's repro: Adam state of Linear(3, 2) into the optimizer of Linear(3000, 2), then step()."""
    small, big = tg.nn.Linear(3, 2), tg.nn.Linear(3000, 2)
    small_opt, big_opt = tg.optim.Adam(small.parameters()), tg.optim.Adam(big.parameters())
    small(tg.tensor(np.ones((1, 3), np.float32))).sum().backward()
    small_opt.step()
    with pytest.raises(ValueError, match=r"parameter 0 has shape \(2, 3\).*\(2, 3000\)"):
        big_opt.load_state_dict(small_opt.state_dict())
    big(tg.tensor(np.ones((1, 3000), np.float32))).sum().backward()
    big_opt.step()  # the optimizer was left as it was, and works
    assert big_opt.state[id(big.weight)]["exp_avg"].shape == (2, 3000)


def _adam_state(amsgrad=False):
    model = _model()
    opt = tg.optim.Adam(model.parameters(), amsgrad=amsgrad)
    return model, opt, _stepped(model, opt)[1].state_dict()


@pytest.mark.parametrize("change,match", [
    (lambda sd: sd.update(kind="SGD"), "belongs to SGD, not to Adam"),
    (lambda sd: sd["param_groups"].append(dict(sd["param_groups"][0])), "2 parameter groups.*1 in the optimizer"),
    (lambda sd: sd["param_groups"][0].update(params=[0, 1]), "group 0 has 2 parameters.*4 in the optimizer"),
    (lambda sd: sd["param_groups"][0].update(momentum=0.9), "unknown hyper-parameter 'momentum'"),
    (lambda sd: sd["param_groups"][0].update(lr="fast"), "hyper-parameter 'lr'"),
    (lambda sd: sd["state"].update({7: sd["state"][0]}), "state for parameter 7.*4 parameters"),
    (lambda sd: sd["state"][1].update(velocity=np.zeros(4)), "parameter 1 has state entries"),
    (lambda sd: sd["state"][1].pop("exp_avg_sq"), "parameter 1 has state entries"),
    (lambda sd: sd["state"][0].update(exp_avg=np.zeros((4, 3), np.int64)), "'exp_avg' of parameter 0 has dtype int64"),
    (lambda sd: sd["state"][0].update(step=-1), "'step' of parameter 0 must be a count"),
    (lambda sd: sd["state"][0].update(step=np.zeros(3)), "'step' of parameter 0 must be a count"),
    (lambda sd: sd["param_groups"][0].update(amsgrad=True), r"expected \['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'"),
])
def test_optimizer_state_mismatches_are_refused_before_anything_is_taken(change, match):
    model, opt, sd = _adam_state()
    change(sd)
    fresh = tg.optim.Adam(model.parameters(), lr=0.25)
    _stepped(model, fresh)
    before = _snapshot(model, fresh)
    with pytest.raises(ValueError, match=match):
        fresh.load_state_dict(sd)
    _assert_unchanged(before, _snapshot(model, fresh))


def test_optimizer_state_casts_float_dtypes_and_round_trips():
    model, opt, sd = _adam_state()
    sd["state"][0]["exp_avg"] = sd["state"][0]["exp_avg"].astype(np.float64)
    fresh = tg.optim.Adam(model.parameters())
    fresh.load_state_dict(sd)
    assert fresh.state[id(model[0].weight)]["exp_avg"].dtype == np.float32
    sgd = tg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    _stepped(model, sgd)
    tg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9).load_state_dict(sgd.state_dict())
    with pytest.raises(ValueError, match="belongs to Adam, not to SGD"):
        sgd.load_state_dict(sd)


# ---------------------------------------------------------------- interrupted saves
def test_interrupted_save_leaves_the_old_checkpoint_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, _model(), None, epoch=1)
    old = path.read_bytes()

    def interrupted(f, **arrays):
        f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, _model(seed=1), None, epoch=2)
    assert path.read_bytes() == old and _temporaries(tmp_path) == []


def test_saved_files_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        save_checkpoint(tmp_path / "checkpoint.npz", _model())
    finally:
        os.umask(old)
    assert (tmp_path / "checkpoint.npz").stat().st_mode & 0o777 == 0o640


_SAVER = """
import os, sys
import numpy as np
import tinygrad_lm as tg
from tinygrad_lm.train.checkpoint import save_checkpoint
model = tg.nn.Sequential(tg.nn.Linear(256, 512), tg.nn.Linear(512, 256))
path, i = sys.argv[1], 0
print("ready", flush=True)
while True:
    i += 1
    for p in model.parameters():
        p.data[...] = i  # every array says which save wrote it
    save_checkpoint(path, model, None, i=i)
"""


def _check_loadable(path):
    model = tg.nn.Sequential(tg.nn.Linear(256, 512), tg.nn.Linear(512, 256))
    meta = load_checkpoint(path, model, restore_rng=False)
    assert all(np.all(p.numpy() == meta["i"]) for p in model.parameters()), "arrays of two saves mixed"
    return meta["i"]


def test_kill_9_at_random_moments_never_damages_the_checkpoint(tmp_path):
    """20 times: a process saving a 2 MB checkpoint in a loop is killed with SIGKILL at a random moment;
    the checkpoint always loads (the old or the new save, whole) and the next save leaves no temporary."""
    path = tmp_path / "checkpoint.npz"
    script = tmp_path / "saver.py"
    script.write_text(_SAVER)
    rnd, seen, stale = random.Random(0), set(), 0
    for _ in range(20):
        proc = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline() == "ready\n"
        deadline = time.time() + 30
        while not path.exists() and time.time() < deadline:  # at least one save, then a random moment
            time.sleep(0.005)
        time.sleep(rnd.uniform(0, 0.15))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        seen.add(_check_loadable(path))
        stale += len(_temporaries(tmp_path))
        path.unlink()  # the next process starts without a checkpoint: every round tests a first save too
    save_checkpoint(path, tg.nn.Sequential(tg.nn.Linear(256, 512), tg.nn.Linear(512, 256)), None, i=0)
    assert _temporaries(tmp_path) == [], "the next save removes the temporaries of killed processes"
    assert len(seen) > 3, f"kills at too few distinct moments: {seen}"
    assert stale > 0, "no kill landed inside a save: the test did not test anything"


_TERMINATED_SAVER = """
import os, signal, sys
import numpy as np
import tinygrad_lm as tg
from tinygrad_lm.train.checkpoint import save_checkpoint
model = tg.nn.Linear(3, 2)
save_checkpoint(sys.argv[1], model, None, i=1)
savez = np.savez
def terminated_midway(f, **arrays):
    f.write(b"partial")
    os.kill(os.getpid(), signal.SIGTERM)
    savez(f, **arrays)
np.savez = terminated_midway
save_checkpoint(sys.argv[1], model, None, i=2)
print("survived")
"""


def test_sigterm_during_a_save_removes_the_temporary_and_still_terminates(tmp_path):
    path, script = tmp_path / "checkpoint.npz", tmp_path / "saver.py"
    script.write_text(_TERMINATED_SAVER)
    proc = subprocess.run([sys.executable, str(script), str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGTERM and "survived" not in proc.stdout, proc.stderr
    assert _temporaries(tmp_path) == []
    assert load_checkpoint(path, tg.nn.Linear(3, 2), restore_rng=False)["i"] == 1


# ---------------------------------------------------------------- run folders, through the CLI
MLP = ["train", "mlp", "--epochs", "1", "--hidden", "16", "--no-progress"]


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("mlp")
    assert _status([*MLP, "--out", str(out)]) == 0
    return out


def _copy_run(src, dst):
    dst.mkdir()
    (dst / "checkpoint.npz").write_bytes((src / "checkpoint.npz").read_bytes())
    return dst


def _error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tinygrad-lm: error: "), err
    return err[0]


def test_new_run_into_a_folder_with_a_checkpoint_is_refused(mlp_run, tmp_path, capsys):
    out = _copy_run(mlp_run, tmp_path / "run")
    before = (out / "checkpoint.npz").read_bytes()
    capsys.readouterr()
    assert _status([*MLP, "--out", str(out)]) == 1
    line = _error_line(capsys)
    assert "already holds a run" in line and "--resume" in line and "--overwrite" in line
    assert (out / "checkpoint.npz").read_bytes() == before
    assert _status([*MLP, "--out", str(out), "--overwrite"]) == 0


def test_every_model_asks_for_resume_or_overwrite(tmp_path, capsys):
    """Every model resumes now (rnn-classifier could not): a folder holding a run offers both."""
    (tmp_path / "checkpoint.npz").write_bytes(b"x")
    assert _status(["train", "rnn-classifier", "--epochs", "1", "--out", str(tmp_path)]) == 1
    line = _error_line(capsys)
    assert "--resume to continue it or --overwrite" in line


def test_resume_without_a_checkpoint_says_so(tmp_path, capsys):
    assert _status([*MLP, "--out", str(tmp_path), "--resume"]) == 1
    assert "no checkpoint" in _error_line(capsys)
    with pytest.raises(SystemExit) as info:
        cli.main([*MLP, "--out", str(tmp_path), "--resume", "--overwrite"])
    assert info.value.code == 2


def test_resume_refuses_an_architecture_change_naming_the_flag(mlp_run, tmp_path, capsys):
    out = _copy_run(mlp_run, tmp_path / "run")
    before = (out / "checkpoint.npz").read_bytes()
    capsys.readouterr()
    assert _status([*MLP, "--out", str(out), "--resume", "--epochs", "2", "--hidden", "32"]) == 1
    line = _error_line(capsys)
    assert "--hidden (checkpoint 16, now 32)" in line and "--epochs" not in line
    assert (out / "checkpoint.npz").read_bytes() == before


def test_resume_refuses_fewer_epochs_than_the_checkpoint_has(mlp_run, tmp_path, capsys):
    out = _copy_run(mlp_run, tmp_path / "run")
    assert _status([*MLP, "--out", str(out), "--resume"]) == 0  # as many as done: nothing to train, allowed
    capsys.readouterr()
    assert _status([*MLP[:3], "0", *MLP[4:], "--out", str(out), "--resume"]) == 2  # the model's own check
    _error_line(capsys)
    assert _status([*MLP[:3], "2", *MLP[4:], "--out", str(out), "--overwrite"]) == 0
    before = (out / "checkpoint.npz").read_bytes()
    capsys.readouterr()
    assert _status([*MLP, "--out", str(out), "--resume"]) == 1
    assert "already at epoch 2, after --epochs 1" in _error_line(capsys)
    assert (out / "checkpoint.npz").read_bytes() == before


def test_resume_applies_and_records_a_new_learning_rate(mlp_run, tmp_path):
    out = _copy_run(mlp_run, tmp_path / "run")
    assert _status([*MLP[:3], "2", *MLP[4:], "--out", str(out), "--resume", "--lr", "0.01"]) == 0
    _, meta = read_checkpoint(out / "checkpoint.npz")
    assert meta["epoch"] == 2 and meta["args"]["lr"] == 0.01
    assert {g["lr"] for g in meta["optimizer"]["param_groups"]} == {0.01}, "recorded but not applied"
    result = json.loads((out / "result.json").read_text())
    changed = result["resumed_with_changes"][0]
    assert changed["resumed_after"] == {"epoch": 1} and changed["changed"]["--lr"] == [0.001, 0.01]


def test_resume_from_a_damaged_checkpoint_is_one_line(mlp_run, tmp_path, capsys):
    out = _copy_run(mlp_run, tmp_path / "run")
    data = (out / "checkpoint.npz").read_bytes()
    (out / "checkpoint.npz").write_bytes(data[: len(data) // 3])
    capsys.readouterr()
    assert _status([*MLP, "--out", str(out), "--resume"]) == 1
    line = _error_line(capsys)
    assert "damaged" in line and str(out / "checkpoint.npz") in line and "pickle" not in line


def test_resume_from_a_model_only_checkpoint_uses_a_fresh_optimizer(mlp_run, tmp_path, capsys):
    from tinygrad_lm.recipes.mlp import digits_setup

    out = tmp_path / "run"
    model = digits_setup(32, 0, 16, 1e-3)[0]
    meta = load_checkpoint(mlp_run / "checkpoint.npz", model)
    save_checkpoint(out / "checkpoint.npz", model, None, **{k: meta[k] for k in ("epoch", "history", "args")})
    before = _snapshot(model)
    capsys.readouterr()
    assert _status([*MLP[:3], "2", *MLP[4:], "--out", str(out), "--resume"]) == 0
    assert "holds no optimizer state: resuming with a fresh optimizer" in capsys.readouterr().out
    after = read_checkpoint(out / "checkpoint.npz")[0]
    assert after["model/0.weight"].shape == before["0.weight"].shape
    assert not np.array_equal(after["model/0.weight"], before["0.weight"]), "the resumed run trained"


def test_unwritable_output_folder_is_found_before_training(tmp_path, capsys):
    (tmp_path / "a-file").write_text("")
    assert _status([*MLP, "--out", str(tmp_path / "a-file" / "run")]) == 1
    assert "cannot write to the output folder" in _error_line(capsys)
    if os.geteuid() != 0:  # root writes into read-only folders
        ro = tmp_path / "read-only"
        ro.mkdir(mode=0o555)
        assert _status([*MLP, "--out", str(ro)]) == 1
        assert "cannot write to the output folder" in _error_line(capsys)


def test_resume_after_kill_9_matches_an_uninterrupted_run(tmp_path):
    """An MLP run killed with SIGKILL after its first checkpoint, then resumed, ends with exactly
    the arrays of a run that was never interrupted."""
    args = ["train", "mlp", "--epochs", "3", "--hidden", "16", "--no-progress"]
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    assert _status([*args, "--out", str(straight)]) == 0
    code = f"from tinygrad_lm import cli; cli.main({[*args, '--epochs', '50', '--out', str(broken)]!r})"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    path, deadline = broken / "checkpoint.npz", time.time() + 120
    while time.time() < deadline and not (path.exists() and 1 <= read_checkpoint(path)[1]["epoch"] < 3):
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    epoch = read_checkpoint(path)[1]["epoch"]
    assert 1 <= epoch < 3, f"killed after epoch {epoch}"
    assert _status([*args, "--out", str(broken), "--resume"]) == 0
    a, b = read_checkpoint(straight / "checkpoint.npz")[0], read_checkpoint(path)[0]
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert _temporaries(broken) == []
