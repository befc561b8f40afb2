"""The Free Spoken Digit Dataset (FSDD): 3,000 real 8 kHz recordings of the digits 0-9, 6 speakers.

Read from a folder of its WAV files, ``{digit}_{speaker}_{index}.wav`` (the
``recordings/`` folder of github.com/Jakobovski/free-spoken-digit-dataset,
CC BY-SA 4.0; see :mod:`snnkd.data.folders` for where the folder is looked
for). Each recording becomes MFCCs by the speech reader's definition
(:mod:`snnkd.data.speech`) at 8 kHz: 1 s (zero-padded or cut; 20 of the 3,000
are longer), 25 ms Hann window (200 samples), 10 ms hop (80), 256-point FFT,
40 HTK-mel bands from 20 Hz to 4 kHz, ``log(mel + 1e-6)``, orthonormal DCT-II:
40 coefficients x 101 frames, stored float16 ``[N, 40, 101]`` (coefficients as
channels, time as the sequence axis, the layout of temporal-convolution keyword
spotters) and standardised per coefficient with the train split's statistics.

Two splits, two registered names:

* ``fsdd``: the dataset's own split, recordings 0-4 of every speaker and digit
  are the test set (300); from the other 2,700, 5 of every (speaker, digit)
  pair, drawn with a fixed seed, are validation (300), the rest train (2,400);
* ``fsdd-speakers``: speaker-independent (leave speakers out): ``yweweler`` is
  the test set (500), ``theo`` validation (500), the other four train (2,000).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from snnkd.data import transforms
from snnkd.data.folders import FolderDataset, register
from snnkd.data.registry import DatasetInfo, Split
from snnkd.data.speech import MfccSetup, mfcc, read_wav
from snnkd.data.staging import Prepared, carve
from snnkd.errors import ConfigError

MFCC = MfccSetup(sample_rate=8_000, n_fft=256, win=200, hop=80)
NAME = re.compile(r"(\d)_([a-z]+)_(\d+)\.wav")
TEST_INDICES = 5  # recordings 0-4 of every (speaker, digit): the dataset's usual test set
TEST_SPEAKER, VAL_SPEAKER = "yweweler", "theo"  # fsdd-speakers
SOURCE = "github.com/Jakobovski/free-spoken-digit-dataset (folder recordings/)"
LICENCE = 'CC BY-SA 4.0: attribute "Free Spoken Digit Dataset, Z. Jackson et al."'
GET = f"the 3,000 FSDD WAV files from {SOURCE}"


def recordings(folder: Path) -> tuple[torch.Tensor, torch.Tensor, list[str], torch.Tensor]:
    """Every WAV of ``folder`` as ``(features [N, 40, 101] float16, digit, speaker, index)``, name order."""
    paths = sorted(folder.glob("*.wav"))
    digits, speakers, indices, waves = [], [], [], []
    for path in paths:
        match = NAME.fullmatch(path.name)
        if match is None:
            raise ConfigError(f"{path}: not an FSDD file name ({{digit}}_{{speaker}}_{{index}}.wav)")
        digits.append(int(match[1]))
        speakers.append(match[2])
        indices.append(int(match[3]))
        waves.append(read_wav(path.read_bytes(), MFCC.sample_rate, str(path)))
    feats = torch.cat([mfcc(torch.stack(waves[i : i + 500]), MFCC) for i in range(0, len(waves), 500)])
    return feats.to(torch.float16), torch.tensor(digits), speakers, torch.tensor(indices)


def _standardised(x: torch.Tensor, y: torch.Tensor, parts: list[torch.Tensor]) -> Prepared:
    """Three splits from index tensors, with the train split's per-coefficient mean and std."""
    train, val, test = (Split(x[p], y[p]) for p in parts)
    tr = train.x.float()
    stats = {"mean": tr.mean((0, 2), keepdim=True)[0], "std": tr.std((0, 2), keepdim=True)[0].clamp_min(1e-5)}
    return Prepared(train, val, test, stats)


def _by_index(folder: Path) -> Prepared:
    x, y, speakers, index = recordings(folder)
    test = torch.nonzero(index < TEST_INDICES).flatten()
    rest = torch.nonzero(index >= TEST_INDICES).flatten()
    names = sorted(set(speakers))
    pair = torch.tensor([names.index(s) * 10 + int(d) for s, d in zip(speakers, y, strict=True)])[rest]
    keep, val = carve(pair, 1 / 9)  # 5 of the 45 recordings of every (speaker, digit)
    return _standardised(x, y, [rest[keep], rest[val], test])


def _by_speaker(folder: Path) -> Prepared:
    x, y, speakers, _ = recordings(folder)
    held = {TEST_SPEAKER: 2, VAL_SPEAKER: 1}
    part = torch.tensor([held.get(s, 0) for s in speakers])
    if not (part == 2).any() or not (part == 1).any():
        raise ConfigError(f"dataset fsdd-speakers: {folder} lacks speaker {TEST_SPEAKER} or {VAL_SPEAKER}")
    return _standardised(x, y, [torch.nonzero(part == p).flatten() for p in range(3)])


def _info(name: str, description: str) -> DatasetInfo:
    shape = (MFCC.n_mfcc, MFCC.frames)
    return DatasetInfo(name, "audio", shape, 10, description, False, source=SOURCE, licence=LICENCE)


FSDD = register(
    FolderDataset(
        _info("fsdd", "Free Spoken Digit Dataset, 40 MFCC x 101 frames; recordings 0-4 test: 2,400/300/300"),
        "fsdd",
        ("*.wav",),
        GET,
        _by_index,
        transforms.standardise,
    )
)
FSDD_SPEAKERS = register(
    FolderDataset(
        _info("fsdd-speakers", "FSDD leaving speakers out: yweweler test, theo val; 2,000/500/500"),
        "fsdd",
        ("*.wav",),
        GET,
        _by_speaker,
        transforms.standardise,
    )
)
