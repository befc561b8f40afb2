"""Google Speech Commands v2 (35 words) as MFCC features, computed with torch and scipy.

Each 1 s clip (16 kHz, zero-padded or cut) becomes 40 MFCCs over 101 frames:
25 ms Hann window, 10 ms hop, 512-point FFT, 40 HTK-mel bands (20 Hz-8 kHz),
``log(mel + 1e-6)``, orthonormal DCT-II. WAVs are read with
``scipy.io.wavfile`` straight from the archive (never torchaudio). The
official ``validation_list.txt`` / ``testing_list.txt`` define the splits;
features are stored as float16 ``[N, 1, 40, 101]`` and standardised per
coefficient with the train split's statistics.

With the ``[speech]`` extra, librosa computes the features
(``librosa.feature.melspectrogram`` with HTK mel bands and unnormalised
triangles, then ``librosa.feature.mfcc`` with an orthonormal DCT-II on
``log(mel + 1e-6)``); the torch path below is the default install's, the same
definition (equal within 1e-4, ``tests/test_readers.py``). :class:`MfccSetup`
holds the definition's numbers; another sample rate (FSDD's 8 kHz,
:mod:`snnkd.data.fsdd`) keeps the same window and hop durations.
"""

from __future__ import annotations

import io
import math
import tarfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from snnkd.data import transforms
from snnkd.data.archives import Archive
from snnkd.data.registry import DatasetInfo, Split
from snnkd.data.staging import Prepared, RealDataset, register
from snnkd.errors import ConfigError

SAMPLE_RATE = 16_000
N_FFT, WIN, HOP = 512, 400, 160
N_MELS = N_MFCC = 40
FRAMES = 1 + SAMPLE_RATE // HOP  # 101 with a centred STFT
WORDS = (
    "backward bed bird cat dog down eight five follow forward four go happy house learn left marvin "
    "nine no off on one right seven sheila six stop three tree two up visual wow yes zero"
).split()
ARCHIVE = Archive(
    "speech_commands_v0.02.tar.gz",
    "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz",
    sha256="af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58",
)


@dataclass(frozen=True)
class MfccSetup:
    """The MFCC definition: STFT sizes in samples, mel bands from ``fmin`` to Nyquist, coefficients."""

    sample_rate: int = SAMPLE_RATE
    n_fft: int = N_FFT
    win: int = WIN
    hop: int = HOP
    n_mels: int = N_MELS
    n_mfcc: int = N_MFCC
    fmin: float = 20.0

    @property
    def frames(self) -> int:
        """Frames of a 1 s clip with a centred STFT."""
        return 1 + self.sample_rate // self.hop


SPEECH_COMMANDS_MFCC = MfccSetup()


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + f / 700.0)


def mel_filterbank(n_freqs: int, n_mels: int, sample_rate: int, fmin: float = 20.0) -> torch.Tensor:
    """Triangular HTK-mel filters ``[n_freqs, n_mels]`` from ``fmin`` to Nyquist."""
    freqs = np.linspace(0, sample_rate / 2, n_freqs)
    mel_pts = np.linspace(_hz_to_mel(np.array(fmin)), _hz_to_mel(np.array(sample_rate / 2)), n_mels + 2)
    hz_pts = 700.0 * (10 ** (mel_pts / 2595.0) - 1.0)
    lower, centre, upper = hz_pts[:-2, None], hz_pts[1:-1, None], hz_pts[2:, None]
    up = (freqs[None, :] - lower) / (centre - lower)
    down = (upper - freqs[None, :]) / (upper - centre)
    fb = np.clip(np.minimum(up, down), 0.0, None)
    return torch.as_tensor(fb.T, dtype=torch.float32)


def dct_matrix(n_mfcc: int, n_mels: int) -> torch.Tensor:
    """Orthonormal DCT-II as a ``[n_mels, n_mfcc]`` matrix (right-multiplied)."""
    n = torch.arange(n_mels, dtype=torch.float64)
    k = torch.arange(n_mfcc, dtype=torch.float64)
    d = torch.cos(math.pi / n_mels * (n[:, None] + 0.5) * k[None, :]) * math.sqrt(2.0 / n_mels)
    d[:, 0] /= math.sqrt(2.0)
    return d.float()


def mfcc(wave: torch.Tensor, setup: MfccSetup = SPEECH_COMMANDS_MFCC) -> torch.Tensor:
    """MFCCs ``[B, n_mfcc, frames]`` of 1 s waves ``[B, sample_rate]`` in [-1, 1] (librosa when installed)."""
    try:
        import librosa
    except ImportError:
        return mfcc_torch(wave, setup)
    mel = librosa.feature.melspectrogram(
        y=wave.numpy(), sr=setup.sample_rate, n_fft=setup.n_fft, hop_length=setup.hop, win_length=setup.win,
        window="hann", center=True, pad_mode="reflect", power=2.0, n_mels=setup.n_mels, fmin=setup.fmin,
        htk=True, norm=None,
    )  # fmt: skip
    coeffs = librosa.feature.mfcc(S=np.log(mel + 1e-6), n_mfcc=setup.n_mfcc, dct_type=2, norm="ortho")
    return torch.from_numpy(coeffs).float()


def mfcc_torch(wave: torch.Tensor, setup: MfccSetup = SPEECH_COMMANDS_MFCC) -> torch.Tensor:
    """The default install's MFCCs: ``torch.stft``, :func:`mel_filterbank`, :func:`dct_matrix`."""
    window = torch.hann_window(setup.win)
    spec = (
        torch.stft(
            wave, setup.n_fft, setup.hop, setup.win, window=window, center=True, return_complex=True
        ).abs()
        ** 2
    )  # [B, n_fft // 2 + 1, frames]
    fb = mel_filterbank(setup.n_fft // 2 + 1, setup.n_mels, setup.sample_rate, setup.fmin)
    mel = spec.transpose(1, 2) @ fb
    return (torch.log(mel + 1e-6) @ dct_matrix(setup.n_mfcc, setup.n_mels)).transpose(1, 2)


def read_wav(data: bytes, sample_rate: int = SAMPLE_RATE, name: str = "speech-commands") -> torch.Tensor:
    """A 16-bit mono WAV at ``sample_rate`` as float32 ``[sample_rate]``, zero-padded or cut to 1 s.

    A file whose header promises more samples than it holds (a truncated download)
    or that is not a 16-bit mono WAV at that rate is a :class:`ConfigError` naming ``name``.
    """
    from scipy.io import wavfile  # here, not at import: only staging speech datasets reads WAVs

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", wavfile.WavFileWarning)  # "reached EOF prematurely": truncated
            rate, samples = wavfile.read(io.BytesIO(data))
    except (ValueError, EOFError, wavfile.WavFileWarning) as err:
        raise ConfigError(f"{name}: not a readable WAV file ({err}); get it again") from None
    if rate != sample_rate or samples.ndim != 1 or samples.dtype != np.int16:
        raise ConfigError(
            f"{name}: expected a {sample_rate} Hz 16-bit mono WAV, got {rate} Hz, {samples.dtype}, "
            f"shape {samples.shape}"
        )
    wave = torch.zeros(sample_rate)
    clip = torch.from_numpy(samples[:sample_rate].astype(np.float32) / 32768.0)
    wave[: len(clip)] = clip
    return wave


def _prepare(raw: Path, _: Path, batch: int = 512) -> Prepared:
    label = {w: i for i, w in enumerate(WORDS)}
    names: list[str] = []
    feats: list[torch.Tensor] = []
    lists: dict[str, set[str]] = {}
    pending: list[torch.Tensor] = []

    def flush() -> None:
        if pending:
            feats.append(mfcc(torch.stack(pending)).to(torch.float16))
            pending.clear()

    with tarfile.open(raw / ARCHIVE.filename, "r|gz") as tar:  # one streaming pass
        for member in tar:
            name = member.name.removeprefix("./")
            if name in ("validation_list.txt", "testing_list.txt"):
                lists[name] = set(tar.extractfile(member).read().decode().split())
                continue
            word = name.split("/")[0]
            if not member.isfile() or not name.endswith(".wav") or word not in label:
                continue  # _background_noise_, LICENSE, README
            names.append(name)
            pending.append(read_wav(tar.extractfile(member).read(), name=f"{raw / ARCHIVE.filename}:{name}"))
            if len(pending) == batch:
                flush()
    flush()
    if set(lists) != {"validation_list.txt", "testing_list.txt"}:
        raise ConfigError(f"archive {raw / ARCHIVE.filename} lacks validation_list.txt or testing_list.txt")
    x = torch.cat(feats).unsqueeze(1)  # [N, 1, N_MFCC, FRAMES]
    y = torch.tensor([label[n.split("/")[0]] for n in names], dtype=torch.int64)
    part = torch.tensor(
        [
            2 if n in lists["testing_list.txt"] else 1 if n in lists["validation_list.txt"] else 0
            for n in names
        ]
    )
    splits = [Split(x[part == p], y[part == p]) for p in range(3)]
    tr = splits[0].x.float()
    stats = {"mean": tr.mean((0, 3), keepdim=True)[0], "std": tr.std((0, 3), keepdim=True)[0].clamp_min(1e-5)}
    return Prepared(*splits, stats)


SPEECH_COMMANDS = register(
    RealDataset(
        DatasetInfo(
            "speech-commands",
            "audio",
            (1, N_MFCC, FRAMES),
            len(WORDS),
            "Google Speech Commands v2, 35 words, 40 MFCC x 101 frames; official splits",
            embedded=False,
        ),
        (ARCHIVE,),
        _prepare,
        transforms.standardise,
    )
)
