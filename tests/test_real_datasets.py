"""Real datasets through their real staging and loading code, on tiny archives the tests write.

Each archive is built in the dataset's own on-disk format (IDX, CIFAR pickles,
the Tiny-ImageNet zip, Speech Commands WAVs, ATIS ``.bin`` and AEDAT 3.1 event
files) with a few samples per class. Checksums are patched to the generated
files' (a corrupted copy must fail them, as must the published ones). No test
reaches the network: ``urllib.request.urlopen`` raises unless a test serves a file.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import pickle
import struct
import tarfile
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.io import wavfile

from snnkd.data import load_splits
from snnkd.data.archives import file_digest, raw_dir
from snnkd.data.encoders import ENCODERS
from snnkd.data.staging import REAL, stage, tensors_path
from snnkd.errors import ConfigError

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access is forbidden in tests")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def trust(monkeypatch, name: str, raw: Path) -> None:
    """Replace dataset ``name``'s published checksums by those of the generated archives."""
    ds = REAL[name]
    archives = tuple(
        dataclasses.replace(a, md5=file_digest(a.path(raw), "md5"), sha256=None) for a in ds.archives
    )
    monkeypatch.setitem(REAL, name, dataclasses.replace(ds, archives=archives))


# ---------------------------------------------------------------- archive writers


def _idx(arr: np.ndarray) -> bytes:
    head = struct.pack(">I", 0x0800 + arr.ndim) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return head + arr.astype(np.uint8).tobytes()


def write_mnist(raw: Path, per_class: int = 3, test_per_class: int = 1) -> None:
    """IDX files whose every pixel of image i equals its label * 20 + 5."""
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", per_class), ("t10k", test_per_class)):
        y = np.repeat(np.arange(10), n)
        x = np.broadcast_to((y * 20 + 5)[:, None, None], (len(y), 28, 28))
        for kind, arr in (("images-idx3", x), ("labels-idx1", y)):
            (raw / f"{prefix}-{kind}-ubyte.gz").write_bytes(gzip.compress(_idx(np.asarray(arr))))


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_cifar(raw: Path, classes: int, per_class: int) -> Path:
    """A CIFAR-10 (``classes=10``) or CIFAR-100 python tarball; pixel value = label."""
    raw.mkdir(parents=True, exist_ok=True)
    ten = classes == 10
    key = "labels" if ten else "fine_labels"
    folder = "cifar-10-batches-py" if ten else "cifar-100-python"
    path = raw / ("cifar-10-python.tar.gz" if ten else "cifar-100-python.tar.gz")

    def batch(n: int) -> bytes:
        y = np.repeat(np.arange(classes), n)
        x = np.repeat(y[:, None], 3072, 1).astype(np.uint8)
        return pickle.dumps({"data": x, key: y.tolist()})

    with tarfile.open(path, "w:gz") as tar:
        if ten:
            for i in range(1, 6):
                _add(tar, f"{folder}/data_batch_{i}", batch(per_class))
            _add(tar, f"{folder}/test_batch", batch(1))
        else:
            _add(tar, f"{folder}/train", batch(per_class))
            _add(tar, f"{folder}/test", batch(1))
    return path


def _jpeg(value: int, mode: str = "RGB") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new(mode, (64, 64), (value,) * len(mode)).save(buf, "JPEG", quality=100)
    return buf.getvalue()


def write_tiny_imagenet(raw: Path) -> None:
    raw.mkdir(parents=True, exist_ok=True)
    wnids = [f"n{i:08d}" for i in range(200)]
    root = "tiny-imagenet-200/"
    with zipfile.ZipFile(raw / "tiny-imagenet-200.zip", "w") as zf:
        zf.writestr(root + "wnids.txt", "\n".join(reversed(wnids)) + "\n")  # order must not matter
        ann = []
        for c, w in enumerate(wnids):
            jpg = _jpeg(c, "L" if c % 50 == 0 else "RGB")  # a few grey images, as in the release
            for i in range(2):
                zf.writestr(f"{root}train/{w}/images/{w}_{i}.JPEG", jpg)
            zf.writestr(f"{root}val/images/val_{c}.JPEG", jpg)
            ann.append(f"val_{c}.JPEG\t{w}\t0\t0\t63\t63")
        zf.writestr(root + "val/val_annotations.txt", "\n".join(ann) + "\n")
        zf.writestr(root + "test/images/test_0.JPEG", _jpeg(0))


def write_speech_commands(raw: Path) -> None:
    from snnkd.data.speech import WORDS

    raw.mkdir(parents=True, exist_ok=True)
    val, test = [], []
    with tarfile.open(raw / "speech_commands_v0.02.tar.gz", "w:gz") as tar:
        for w in WORDS:
            for i in range(3):
                buf = io.BytesIO()
                n = 4000 if i else 17000  # short clips are padded, long ones cut
                wavfile.write(buf, 16000, (RNG.standard_normal(n) * 3000).astype(np.int16))
                name = f"{w}/{i:08x}_nohash_0.wav"
                _add(tar, "./" + name, buf.getvalue())
                (val if i == 1 else test if i == 2 else []).append(name)
        buf = io.BytesIO()
        wavfile.write(buf, 16000, np.zeros(32000, dtype=np.int16))
        _add(tar, "./_background_noise_/white_noise.wav", buf.getvalue())
        _add(tar, "./validation_list.txt", "\n".join(val).encode())
        _add(tar, "./testing_list.txt", "\n".join(test).encode())
        _add(tar, "./LICENSE", b"CC-BY-4.0")


def atis_bin(n: int, width: int, height: int) -> bytes:
    """``n`` events in N-MNIST's 40-bit ATIS format (x, y, polarity, 23-bit timestamp)."""
    x = RNG.integers(0, width, n)
    y = RNG.integers(0, height, n)
    p = RNG.integers(0, 2, n)
    t = np.sort(RNG.integers(0, 300_000, n))
    out = np.stack([x, y, (p << 7) | ((t >> 16) & 127), (t >> 8) & 255, t & 255], 1)
    return out.astype(np.uint8).tobytes()


def write_n_mnist(raw: Path) -> None:
    """Class ``c`` samples hold ``40 + 4c`` events, so labels can be checked from the frames."""
    raw.mkdir(parents=True, exist_ok=True)
    for split, n in (("Train", 3), ("Test", 1)):
        with zipfile.ZipFile(raw / f"{split}.zip", "w") as zf:
            for c in range(10):
                for i in range(n):
                    zf.writestr(f"{split}/{c}/{i:05d}.bin", atis_bin(40 + 4 * c, 34, 34))


def write_n_caltech101(raw: Path) -> None:
    raw.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(raw / "Caltech101.zip", "w") as zf:
        for c in range(101):
            for i in range(4):
                zf.writestr(f"Caltech101/class_{c:03d}/image_{i:04d}.bin", atis_bin(30, 240, 180))


def aedat31(segments: list[tuple[int, int, int]]) -> bytes:
    """An AEDAT 3.1 file with one polarity packet; ``segments`` = (label, start, count)."""
    events = []
    for _, start, count in segments:
        for k in range(count):
            x, y, p = (int(v) for v in (RNG.integers(0, 128), RNG.integers(0, 128), RNG.integers(0, 2)))
            events.append(((x << 17) | (y << 2) | (p << 1) | 1, start + 10 * k))
    header = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#!END-HEADER\r\n"
    n = len(events)
    packet = struct.pack("<HHIIIIII", 1, 1, 8, 4, 0, n, n, n)
    return header + packet + b"".join(struct.pack("<II", a, t) for a, t in events)


def write_dvs_gesture(raw: Path) -> None:
    """Three trials; gesture ``c`` (label c - 1 after SpikingJelly) has ``32 + 4c`` events."""
    raw.mkdir(parents=True, exist_ok=True)
    with tarfile.open(raw / "DvsGesture.tar.gz", "w:gz") as tar:
        for trial in ("user01_led", "user02_led", "user03_led"):
            segs = [(c, 10_000 * c, 32 + 4 * c) for c in range(1, 12)]
            _add(tar, f"DvsGesture/{trial}.aedat", aedat31(segs))
            csv = "class,startTime_usec,endTime_usec\n" + "".join(
                f"{c},{s},{s + 10 * n}\n" for c, s, n in segs
            )
            _add(tar, f"DvsGesture/{trial}_labels.csv", csv.encode())
        _add(tar, "DvsGesture/trials_to_train.txt", b"user01_led.aedat\nuser02_led.aedat\n")
        _add(tar, "DvsGesture/trials_to_test.txt", b"user03_led.aedat\n")


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_idx_datasets_stage_and_load(tmp_path, monkeypatch, name):
    raw = raw_dir(tmp_path, name)
    write_mnist(raw)
    trust(monkeypatch, name, raw)
    s = load_splits(name, tmp_path)  # stages offline on first use
    assert (len(s.train), len(s.val), len(s.test)) == (20, 10, 10)
    assert s.train.x.dtype == torch.uint8 and s.train.x.shape[1:] == (1, 28, 28)
    for split in (s.train, s.val, s.test):  # pixel value encodes the label: the pairing survived
        assert torch.equal(split.x[:, 0, 0, 0].long(), split.y * 20 + 5)
    x = s.batch(s.train.x[:4], True, torch.Generator().manual_seed(0))
    assert x.dtype == torch.float32 and float(x.max()) <= 1.0 and not s.augments
    assert tensors_path(tmp_path, name).is_file()


def test_cifar10_normalises_and_augments_with_the_generator(tmp_path, monkeypatch):
    raw = raw_dir(tmp_path, "cifar10")
    write_cifar(raw, 10, 2)
    trust(monkeypatch, "cifar10", raw)
    stage("cifar10", tmp_path, download=False, show=False)
    s = load_splits("cifar10", tmp_path)
    assert (len(s.train), len(s.val), len(s.test)) == (90, 10, 10)
    assert s.augments and s.train.x.shape[1:] == (3, 32, 32)
    assert torch.equal(s.train.x[:, 0, 5, 5].long(), s.train.y)
    # train-split statistics: the normalised train set has mean 0 and std 1 per channel
    z = s.batch(s.train.x, False)
    assert torch.allclose(z.mean((0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(z.std((0, 2, 3), unbiased=False), torch.ones(3), atol=1e-3)
    a = s.batch(s.train.x[:16], True, torch.Generator().manual_seed(3))
    b = s.batch(s.train.x[:16], True, torch.Generator().manual_seed(3))
    c = s.batch(s.train.x[:16], True, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a, z[:16])  # padding shows up after a random crop


def test_random_crop_flip_matches_a_reference():
    from snnkd.data.transforms import random_crop_flip

    x = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).view(2, 3, 5, 5)
    gen = torch.Generator().manual_seed(1)
    out = random_crop_flip(x, 2, gen)
    gen = torch.Generator().manual_seed(1)
    off = torch.randint(0, 5, (2, 2), generator=gen)
    flip = torch.rand(2, generator=gen) < 0.5
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(2):
        ref = padded[i, :, off[0, i] : off[0, i] + 5, off[1, i] : off[1, i] + 5]
        assert torch.equal(out[i], ref.flip(2) if flip[i] else ref)


def test_cifar100_uses_fine_labels(tmp_path, monkeypatch):
    raw = raw_dir(tmp_path, "cifar100")
    write_cifar(raw, 100, 2)
    trust(monkeypatch, "cifar100", raw)
    s = load_splits("cifar100", tmp_path)
    assert s.info.num_classes == 100 and set(s.test.y.tolist()) == set(range(100))
    assert torch.equal(s.test.x[:, 1, 0, 0].long(), s.test.y)


def test_tiny_imagenet_reads_the_zip(tmp_path, monkeypatch):
    raw = raw_dir(tmp_path, "tiny-imagenet")
    write_tiny_imagenet(raw)
    trust(monkeypatch, "tiny-imagenet", raw)
    s = load_splits("tiny-imagenet", tmp_path)
    assert (len(s.train), len(s.val), len(s.test)) == (200, 200, 200)
    assert s.train.x.shape[1:] == (3, 64, 64) and s.train.x.dtype == torch.uint8
    for split in (s.train, s.val, s.test):  # sorted wnids give labels; pixels hold the class
        assert (split.x[:, :, 32, 32].float().mean(1) - split.y.float()).abs().max() <= 2


def test_speech_commands_mfcc_and_official_splits(tmp_path, monkeypatch):
    from snnkd.data.speech import FRAMES, N_MFCC

    raw = raw_dir(tmp_path, "speech-commands")
    write_speech_commands(raw)
    trust(monkeypatch, "speech-commands", raw)
    s = load_splits("speech-commands", tmp_path)
    assert (len(s.train), len(s.val), len(s.test)) == (35, 35, 35)  # from the two list files
    assert s.train.x.shape[1:] == (1, N_MFCC, FRAMES) == s.info.input_shape
    assert torch.equal(torch.bincount(s.val.y, minlength=35), torch.ones(35, dtype=torch.int64))
    z = s.batch(s.train.x, True)
    assert z.dtype == torch.float32
    assert torch.allclose(z.mean((0, 3)).squeeze(), torch.zeros(N_MFCC), atol=1e-2)


def test_mfcc_of_a_pure_tone_peaks_in_its_mel_band():
    from snnkd.data.speech import N_FFT, SAMPLE_RATE, mel_filterbank, mfcc

    t = torch.arange(SAMPLE_RATE) / SAMPLE_RATE
    wave = 0.5 * torch.sin(2 * torch.pi * 1000.0 * t)
    fb = mel_filterbank(N_FFT // 2 + 1, 40, SAMPLE_RATE)
    band = int(fb[round(1000 / (SAMPLE_RATE / N_FFT))].argmax())
    c = mfcc(wave[None])[0]  # invert the orthonormal DCT to get the log-mel spectrum back
    from snnkd.data.speech import dct_matrix

    logmel = (c.T @ dct_matrix(40, 40).T).T
    assert abs(int(logmel[:, 50].argmax()) - band) <= 1
    assert c.shape == (40, 101)


def test_n_mnist_frames_through_spikingjelly(tmp_path, monkeypatch):
    raw = raw_dir(tmp_path, "n-mnist")
    write_n_mnist(raw)
    trust(monkeypatch, "n-mnist", raw)
    s = load_splits("n-mnist", tmp_path)
    assert (len(s.train), len(s.val), len(s.test)) == (20, 10, 10)
    assert s.train.x.shape[1:] == (10, 2, 34, 34) and s.train.x.dtype == torch.uint8
    for split in (s.train, s.val, s.test):  # every event lands in one frame; count gives the class
        assert torch.equal(split.x.sum((1, 2, 3, 4)), 40 + 4 * split.y)
    x = s.batch(s.train.x[:3], True)
    seq = ENCODERS.get("frames")(x, 10)
    assert seq.shape == (10, 3, 2, 34, 34) and torch.equal(seq[2], x[:, 2])
    merged = ENCODERS.get("frames")(x, 1)  # the ANN twin sees all events in one step
    assert torch.equal(merged[0], x.sum(1))
    with pytest.raises(ConfigError, match="cannot be merged"):
        ENCODERS.get("frames")(x, 3)


def test_dvs_gesture_aedat_labels_and_pooling(tmp_path, monkeypatch):
    raw = raw_dir(tmp_path, "dvs-gesture")
    write_dvs_gesture(raw)
    trust(monkeypatch, "dvs-gesture", raw)
    s = load_splits("dvs-gesture", tmp_path)
    assert (len(s.train), len(s.val), len(s.test)) == (11, 11, 11)
    assert s.train.x.shape[1:] == (16, 2, 64, 64)
    for split in (s.train, s.val, s.test):  # label 10 is folder "10", not the third in string order
        assert torch.equal(split.x.sum((1, 2, 3, 4)), 32 + 4 * (split.y + 1))


def test_n_caltech101_is_split_per_class(tmp_path, monkeypatch):
    raw = raw_dir(tmp_path, "n-caltech101")
    write_n_caltech101(raw)
    trust(monkeypatch, "n-caltech101", raw)
    s = load_splits("n-caltech101", tmp_path)
    assert (len(s.train), len(s.val), len(s.test)) == (202, 101, 101)
    assert s.train.x.shape[1:] == (10, 2, 48, 48)
    assert set(s.test.y.tolist()) == set(range(101))
    assert (s.train.x.sum((1, 2, 3, 4)) == 30).all()  # binning 180x240 -> 48x48 keeps every event


def test_corrupted_archive_fails_its_checksum(tmp_path, monkeypatch):
    raw = raw_dir(tmp_path, "cifar10")
    path = write_cifar(raw, 10, 1)
    with pytest.raises(ConfigError, match=r"fails its MD5 checksum \(expected c58f3010"):
        stage("cifar10", tmp_path, download=False)  # the published MD5 rejects our fake
    trust(monkeypatch, "cifar10", raw)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match="corrupted or incomplete; delete it") as err:
        stage("cifar10", tmp_path, download=False)
    assert "\n" not in str(err.value)
    assert not tensors_path(tmp_path, "cifar10").exists()


def test_absent_archive_is_one_line_with_url_and_folder(tmp_path, capsys):
    from snnkd.cli.main import main

    assert main(["stage", "cifar10", "--data-dir", str(tmp_path), "--offline"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "cifar-10-python.tar.gz" in err and "https://www.cs.toronto.edu/~kriz/" in err
    assert str(tmp_path / "raw" / "cifar10") in err
    with pytest.raises(ConfigError, match="Train.zip is absent"):  # loading never downloads
        load_splits("n-mnist", tmp_path)
    # a host that needs a browser is never downloaded from, even when allowed
    with pytest.raises(ConfigError, match="garrickorchard"):
        stage("n-mnist", tmp_path, download=True)


def test_download_only_when_absent_and_then_verified(tmp_path, monkeypatch):
    src = tmp_path / "src"
    write_mnist(src)
    trust(monkeypatch, "mnist", src)
    calls = []

    class Response(io.BytesIO):
        headers = {}

        def __enter__(self):
            return self

    def serve(url, timeout=None):
        calls.append(url)
        self_name = url.rsplit("/", 1)[1]
        return Response((src / self_name).read_bytes())

    monkeypatch.setattr(urllib.request, "urlopen", serve)
    stage("mnist", tmp_path / "d", download=True, show=False)
    assert len(calls) == 4 and all(u.startswith("https://ossci-datasets") for u in calls)
    assert (raw_dir(tmp_path / "d", "mnist") / "train-images-idx3-ubyte.gz").is_file()
    stage("mnist", tmp_path / "d", download=True, force=True, show=False)
    assert len(calls) == 4  # present archives are verified, never fetched again


def test_list_shows_every_dataset_with_its_state(tmp_path, monkeypatch):
    from snnkd.cli import listing

    write_mnist(raw_dir(tmp_path, "mnist"))
    table = listing.datasets(str(tmp_path))
    rows = {line.split()[0]: line.split()[4] for line in table.splitlines()[1:]}
    expected = (
        "mnist fashion-mnist cifar10 cifar100 tiny-imagenet speech-commands n-mnist n-caltech101 dvs-gesture"
    )
    assert set(expected.split()) <= set(rows)
    assert rows["mnist"] == "present" and rows["cifar10"] == "absent" and rows["digits"] == "embedded"


def test_events_need_the_frames_encoder():
    from snnkd.core.config import validate

    assert validate({"dataset": "n-mnist"}).encoder == "frames"  # 'direct' means the frames here
    with pytest.raises(ConfigError, match="needs encoder 'frames'"):
        validate({"dataset": "n-mnist", "encoder": "rate"})
    with pytest.raises(ConfigError, match="needs encoder 'direct' or 'rate'"):
        validate({"dataset": "cifar10", "encoder": "frames"})
    assert validate({"dataset": "dvs-gesture", "encoder": "frames", "T": 8}).encoder == "frames"


def test_training_runs_on_staged_cifar_and_events(tmp_path, monkeypatch):
    from conftest import train_run

    from snnkd.core.config import validate

    write_cifar(raw_dir(tmp_path, "cifar10"), 10, 2)
    trust(monkeypatch, "cifar10", raw_dir(tmp_path, "cifar10"))
    write_n_mnist(raw_dir(tmp_path, "n-mnist"))
    trust(monkeypatch, "n-mnist", raw_dir(tmp_path, "n-mnist"))
    for data in (
        {"dataset": "cifar10", "model": "student", "T": 2},
        {"dataset": "n-mnist", "model": "student", "encoder": "frames", "T": 5},
    ):
        base = {"train": {"epochs": 1, "batch_size": 32}, "device": "cpu", "data_dir": str(tmp_path)}
        cfg = validate({**data, **base})
        run, metrics = train_run(cfg, tmp_path / data["dataset"])
        assert 0.0 <= metrics["test_accuracy"] <= 1.0 and np.isfinite(metrics["history"][0]["loss"])
        assert run.data.augments == (data["dataset"] == "cifar10")
