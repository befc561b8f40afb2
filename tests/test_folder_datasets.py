"""fsdd, fsdd-speakers and nmnist-small: datasets read from a folder of real files (issue 23).

The real recordings lie beside the repository (``../shared/data/``, in CI too);
the corrupt-file, missing-folder and changed-file cases write small folders in
the real formats into a temporary directory.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from scipy.io import wavfile

from snnkd.data import events, folders, fsdd, nmnist_small, speech
from snnkd.data.neuromorphic import NMNIST_SETUP
from snnkd.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
FSDD_DIR = SHARED / "fsdd" / "recordings"
NMNIST_DIR = SHARED / "nmnist-small"
real = pytest.mark.skipif(
    not (FSDD_DIR.is_dir() and NMNIST_DIR.is_dir()), reason=f"the real recordings are not in {SHARED}"
)


def _wav(rate: int = 8000, seconds: float = 0.2, freq: float = 440.0) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    buf = io.BytesIO()
    wavfile.write(buf, rate, (0.3 * np.sin(2 * np.pi * freq * t) * 32767).astype(np.int16))
    return buf.getvalue()


def _fsdd_folder(folder: Path, speakers=("george", "theo", "yweweler"), indices=7) -> Path:
    """A small FSDD-like folder: one tone per digit, ``indices`` recordings of every (speaker, digit)."""
    folder.mkdir(parents=True)
    for s, speaker in enumerate(speakers):
        for digit in range(10):
            for i in range(indices):
                (folder / f"{digit}_{speaker}_{i}.wav").write_bytes(_wav(freq=200 + 100 * digit + 7 * s + i))
    return folder


def _atis(rows: list[tuple[int, int, int, int]]) -> bytes:
    """40-bit ATIS records ``(x, y, p, t)``."""
    return b"".join(bytes([x, y, (p << 7) | (t >> 16), (t >> 8) & 255, t & 255]) for x, y, p, t in rows)


def _nmnist_folder(folder: Path, per_class: int = 5) -> Path:
    folder.mkdir(parents=True)
    gen = np.random.default_rng(0)
    lines: dict[str, list[str]] = {"train1K.txt": ["#sample\t#class"], "test100.txt": ["#sample\t#class"]}
    for k in range(10 * per_class):
        n, sample = 40 + k, k + 1 if k < 9 * per_class else 60001 + k
        xy = gen.integers(0, 34, (2, n))
        rows = zip(xy[0], xy[1], gen.integers(0, 2, n), np.arange(n) * 100, strict=True)
        (folder / f"{sample}.bs2").write_bytes(_atis([tuple(map(int, r)) for r in rows]))
        lines["train1K.txt" if k < 9 * per_class else "test100.txt"].append(f"{sample}\t{k % 10}")
    for name, text in lines.items():
        (folder / name).write_text("\n".join(text) + "\n")
    return folder


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    """fsdd and nmnist-small staged once from the real folders into a temporary data dir."""
    if not (FSDD_DIR.is_dir() and NMNIST_DIR.is_dir()):
        pytest.skip(f"the real recordings are not in {SHARED}")
    data = tmp_path_factory.mktemp("data")
    folders.stage("fsdd", data, FSDD_DIR)
    folders.stage("nmnist-small", data, NMNIST_DIR)
    return data


@real
def test_fsdd_split_is_recordings_0_to_4_for_test_and_5_per_pair_for_validation(staged):
    from snnkd.data.staging import preparation_threads, read

    splits = read(staged, fsdd.FSDD.info, fsdd.FSDD.transform)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (2400, 300, 300)
    assert splits.train.x.shape[1:] == (40, 101) and splits.train.x.dtype == torch.float16
    for part in (splits.val, splits.test):
        assert torch.bincount(part.y).tolist() == [30] * 10
    # the test set in name order: its first sample is 0_george_0.wav's MFCCs
    first = speech.read_wav((FSDD_DIR / "0_george_0.wav").read_bytes(), 8000)
    with preparation_threads():
        expected = speech.mfcc(first[None], fsdd.MFCC)[0].to(torch.float16)
    # alone, not in preparation's batches of 500, its mel projection (an OpenBLAS sgemm on 2 threads)
    # may round the last float16 bit otherwise: equal within one float16 step, far from the next file
    got = splits.test.x[0].float()
    assert torch.allclose(got, expected.float(), rtol=1e-3, atol=1e-3) and splits.test.y[0] == 0
    assert not torch.allclose(splits.test.x[1].float(), expected.float(), rtol=0.1, atol=0.1)
    # standardised per coefficient with the train split's statistics
    train = splits.batch(splits.train.x, False)
    assert train.mean((0, 2)).abs().max() < 1e-3 and (train.std((0, 2)) - 1).abs().max() < 1e-3


@real
def test_librosa_and_torch_mfcc_agree_on_real_fsdd_recordings():
    pytest.importorskip("librosa", reason="the [speech] extra")
    paths = sorted(FSDD_DIR.glob("*.wav"))[::100]
    waves = torch.stack([speech.read_wav(p.read_bytes(), 8000, str(p)) for p in paths])
    ours, theirs = speech.mfcc_torch(waves, fsdd.MFCC), speech.mfcc(waves, fsdd.MFCC)
    assert theirs.shape == (len(paths), 40, 101)
    np.testing.assert_allclose(theirs.numpy(), ours.numpy(), atol=1e-4)


def test_fsdd_speakers_leaves_two_speakers_out(tmp_path):
    folder = _fsdd_folder(tmp_path / "rec")
    p = fsdd._by_speaker(folder)
    assert (len(p.train), len(p.val), len(p.test)) == (70, 70, 70)  # george / theo / yweweler
    x, y, speakers, _ = fsdd.recordings(folder)
    held = [i for i, s in enumerate(speakers) if s == "yweweler"]
    assert torch.equal(p.test.x, x[held]) and torch.equal(p.test.y, y[held])


@real
def test_both_atis_readers_give_the_same_events_and_frames_for_every_real_file():
    pytest.importorskip("tonic", reason="the [events] extra")
    h, w = NMNIST_SETUP.sensor
    paths = sorted(NMNIST_DIR.glob("*.bs2"))
    assert len(paths) == 1100
    for path in paths:
        data = path.read_bytes()
        ours, theirs = events._read_atis_bin(data), events.read_atis_bin(data)
        for key in "txyp":
            np.testing.assert_array_equal(ours[key].astype(np.int64), theirs[key], err_msg=f"{path}: {key}")
        np.testing.assert_array_equal(
            events.frames_by_number(ours, 10, h, w), events.frames_by_number(theirs, 10, h, w)
        )


@real
def test_nmnist_small_pools_and_stratifies_1100_samples(staged):
    from snnkd.data.staging import read

    splits = read(staged, nmnist_small.NMNIST_SMALL.info, nmnist_small.NMNIST_SMALL.transform)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (660, 220, 220)
    assert splits.test.x.shape[1:] == (10, 2, 34, 34) and splits.test.x.dtype == torch.uint8
    counts = torch.bincount(torch.cat([splits.train.y, splits.val.y, splits.test.y]))
    pairs = nmnist_small.labels(NMNIST_DIR)
    assert counts.tolist() == np.bincount([c for _, c in pairs], minlength=10).tolist()
    # the frames of the pooled sample 1 (train1K.txt's first line, class 5): n-mnist's framing
    frames = events.frames_by_number(nmnist_small.read_sample(NMNIST_DIR / "1.bs2"), 10, 34, 34)
    want = torch.from_numpy(np.minimum(frames, 255).astype(np.uint8))
    found = [
        int(y)
        for part in (splits.train, splits.val, splits.test)
        for x, y in zip(part.x, part.y, strict=True)
        if torch.equal(x, want)
    ]
    assert found == [5] and pairs[0] == (1, 5)


@real
@pytest.mark.parametrize(("dataset", "T"), [("fsdd", 4), ("nmnist-small", 5)])
def test_one_student_epoch_on_the_real_recordings(staged, tmp_path, dataset, T):
    from conftest import train_run

    from snnkd.core.config import validate

    cfg = validate(
        {"dataset": dataset, "model": "student", "T": T, "device": "cpu", "data_dir": str(staged),
         "train": {"epochs": 1, "batch_size": 128, "lr": 0.004}}
    )  # fmt: skip
    _, metrics = train_run(cfg, tmp_path / dataset)
    assert metrics["epochs"] == 1 and np.isfinite(metrics["history"][0]["loss"])
    assert metrics["test_accuracy"] > 0.3  # learnt from the recordings (chance: 0.1)


def test_a_changed_file_is_staged_again_and_an_unchanged_folder_is_not(tmp_path):
    folder = _fsdd_folder(tmp_path / "rec")
    data = tmp_path / "data"
    out = folders.stage("fsdd", data, folder)
    first, stamp = out.read_bytes(), out.stat().st_mtime_ns
    assert folders.stage("fsdd", data, folder).stat().st_mtime_ns == stamp  # same fingerprint: kept
    (folder / "3_theo_6.wav").write_bytes(_wav(freq=1234.0))
    assert folders.stage("fsdd", data, folder).read_bytes() != first


def test_corrupt_files_are_one_line_naming_the_file_and_nothing_is_written(tmp_path):
    data = tmp_path / "data"
    folder = _fsdd_folder(tmp_path / "rec", indices=6)
    bad = folder / "4_theo_2.wav"
    bad.write_bytes(bad.read_bytes()[:-400])  # the header promises 400 bytes more than the file holds
    with pytest.raises(ConfigError, match=r"4_theo_2\.wav: not a readable WAV") as err:
        folders.stage("fsdd", data, folder)
    assert "\n" not in str(err.value) and not (data / "prepared" / "fsdd").exists()
    events_dir = _nmnist_folder(tmp_path / "ev")
    cut = events_dir / "7.bs2"
    cut.write_bytes(cut.read_bytes()[:-2])
    with pytest.raises(ConfigError, match=r"7\.bs2: \d+ bytes, not a whole number of 5-byte"):
        folders.stage("nmnist-small", data, events_dir)
    cut.write_bytes(_atis([(3, 4, 1, 10), (34, 0, 0, 20)]))
    with pytest.raises(ConfigError, match=r"7\.bs2: event 1 has address x=34, y=0 outside the 34 x 34"):
        folders.stage("nmnist-small", data, events_dir)
    assert not (data / "prepared").exists()


def test_wrong_rate_and_name_are_refused(tmp_path):
    folder = _fsdd_folder(tmp_path / "rec", speakers=("theo",), indices=6)
    (folder / "1_theo_0.wav").write_bytes(_wav(rate=16000))
    with pytest.raises(ConfigError, match=r"1_theo_0\.wav: expected a 8000 Hz 16-bit mono WAV, got 16000 Hz"):
        fsdd._by_index(folder)
    (folder / "1_theo_0.wav").write_bytes(_wav())
    (folder / "one_theo_0.wav").write_bytes(_wav())
    with pytest.raises(ConfigError, match=r"one_theo_0\.wav: not an FSDD file name"):
        fsdd._by_index(folder)


def test_the_folder_is_the_suite_setting_then_the_environment_then_data_raw(tmp_path, monkeypatch):
    monkeypatch.delenv("SNNKD_FSDD_DIR", raising=False)
    assert folders.source("fsdd", tmp_path) == tmp_path / "raw" / "fsdd"
    assert folders.source("fsdd-speakers", tmp_path) == tmp_path / "raw" / "fsdd"  # one folder, two splits
    monkeypatch.setenv("SNNKD_FSDD_DIR", "/elsewhere")
    assert folders.source("fsdd", tmp_path) == Path("/elsewhere")
    assert folders.source("fsdd", tmp_path, "given") == Path("given")
    assert folders.env_var("nmnist-small") == "SNNKD_NMNIST_SMALL_DIR"


def test_list_datasets_shows_the_folder_datasets_with_source_and_licence():
    from snnkd.cli import listing

    rows = {line.split()[0]: line for line in listing.datasets().splitlines()[1:]}
    assert (
        "github.com/Jakobovski/free-spoken-digit-dataset" in rows["fsdd"] and "CC BY-SA 4.0" in rows["fsdd"]
    )
    assert "github.com/bamsumit/slayerPytorch" in rows["nmnist-small"] and "Orchard" in rows["nmnist-small"]


def _suite(repo: Path, sources: dict[str, str]) -> None:
    """The smoke suite on fsdd, reading ``sources``."""
    suite = yaml.safe_load((ROOT / "benchmarks" / "smoke.yaml").read_text())
    suite.update(datasets=["fsdd"], sources=sources)
    suite["budgets"] = {"fsdd": next(iter(suite["budgets"].values()))}
    for net in suite["networks"].values():
        net["budgets"] = {"fsdd": next(iter(net["budgets"].values()))} if net.get("budgets") else {}
    (repo / "params.yaml").write_text(yaml.safe_dump({"suites": {suite["suite"]: suite}}))


def _sh(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """``cmd`` with this environment's ``dvc`` and ``snnkd`` first on the PATH."""
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)


def test_the_pipeline_tracks_the_folder_and_refuses_a_missing_one(tmp_path, monkeypatch, capsys):
    """`dvc repro` of the folder stage, a changed file re-runs it with new splits; an absent folder is one
    line from `setup`, exit 2, and no other stage runs."""
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy2(ROOT / "dvc.yaml", repo / "dvc.yaml")
    shutil.copytree(ROOT / "src" / "snnkd" / "data", repo / "src" / "snnkd" / "data")
    folder = _fsdd_folder(tmp_path / "rec")
    _suite(repo, {"fsdd": str(folder)})
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"]):
        done = _sh(cmd, repo)
        assert done.returncode == 0, done.stderr
    from snnkd.pipeline import params_file

    monkeypatch.chdir(repo)
    params_file.replan(Path("params.yaml"))
    plan = yaml.safe_load((repo / "params.yaml").read_text())["plan"]
    assert plan["data"] == [] and plan["folders"] == {"fsdd": {"path": str(folder)}}
    done = _sh(["dvc", "repro", "folder@fsdd"], repo)
    assert done.returncode == 0, done.stdout + done.stderr
    splits = repo / "data" / "prepared" / "fsdd" / "splits.json"
    before = splits.read_text()
    (folder / "2_george_5.wav").write_bytes(_wav(freq=999.0))
    assert "modified:" in _sh(["dvc", "status", "folder@fsdd"], repo).stdout
    done = _sh(["dvc", "repro", "folder@fsdd"], repo)
    assert "Running stage 'folder@fsdd'" in done.stdout and splits.read_text() != before
    shutil.rmtree(folder)
    (repo / "params.yaml").write_text((repo / "params.yaml").read_text() + "\n")  # setup runs again
    done = _sh(["dvc", "repro"], repo)
    errors = [line for line in done.stderr.splitlines() if line.startswith("snnkd: error:")]
    assert done.returncode != 0 and len(errors) == 1
    assert f"dataset fsdd: folder {folder} is absent" in errors[0] and "Jakobovski" in errors[0]
    assert "Running stage 'setup'" in done.stdout and "Running stage 'folder" not in done.stdout
    from snnkd.cli.main import main

    capsys.readouterr()
    assert main(["pipeline", "setup"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("snnkd: error: dataset fsdd: folder")


def test_the_recordings_evidence_suite_is_the_evidence_suite_on_fsdd_and_nmnist_small():
    from snnkd.pipeline import suite as S

    recordings = S.load(ROOT / "benchmarks" / "evidence-recordings.yaml", full=False)
    evidence = S.load(ROOT / "benchmarks" / "evidence.yaml", full=False)
    assert recordings.datasets == ["fsdd", "nmnist-small"]
    for key in ("methods", "groups", "seeds", "common", "tune", "student"):
        assert getattr(recordings, key) == getattr(evidence, key), key
    budgets = [recordings.budgets, *(net.budgets for net in recordings.networks.values())]
    for table in budgets:  # plateau budgets: patience >= epochs / 4
        for dataset in recordings.datasets:
            train = table[dataset]["train"]
            assert train["patience"] >= train["epochs"] / 4


def test_a_training_stage_prepares_its_folder_dataset_from_the_suite_sources(tmp_path, monkeypatch):
    """In a fresh workspace (an ``snnkd scale`` worker's) only ``splits.json`` is restored: the
    stage prepares the tensors from the suite's ``sources`` before training (before, loading
    looked in data/raw and failed), and they are the bytes the data stage hashed."""
    from types import SimpleNamespace

    from snnkd.pipeline.stages import data, stage_folder

    source = _fsdd_folder(tmp_path / "elsewhere" / "recordings")
    work = tmp_path / "workspace"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("SNNKD_FSDD_DIR", raising=False)
    with pytest.raises(ConfigError, match="data/raw/fsdd is absent"):
        folders.load("fsdd", "data")  # what a worker did
    stage_folder(SimpleNamespace(sources={"fsdd": "../elsewhere/recordings"}), "fsdd")
    assert folders.load("fsdd", "data").train.x.shape[1:] == (40, 101)
    monkeypatch.setenv("SNNKD_FSDD_DIR", str(source))
    made = (work / "data" / "prepared" / "fsdd" / "tensors.pt").stat().st_mtime_ns
    in_workspace = data("fsdd", Path("data/prepared")).read_bytes()  # the same files: hashes them as made
    assert (work / "data" / "prepared" / "fsdd" / "tensors.pt").stat().st_mtime_ns == made
    checkout = tmp_path / "checkout"  # the data stage, elsewhere, from the same folder
    checkout.mkdir()
    monkeypatch.chdir(checkout)
    assert data("fsdd", Path("data/prepared")).read_bytes() == in_workspace
    stage_folder(SimpleNamespace(sources={}), "digits")  # a dataset of its own: nothing to do
