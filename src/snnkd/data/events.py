"""Event-file readers and frame integration, following SpikingJelly 2's dataset code.

SpikingJelly's dataset classes (``spikingjelly.datasets``) import torchvision,
whose 0.28 wheel is built against CUDA and fails to import beside the CPU
build of torch this project pins; these functions re-implement, vectorised,
the same steps: ``load_ATIS_bin`` (N-MNIST, N-Caltech101), ``load_aedat_v3``
(DVS Gesture) and ``integrate_events_by_fixed_frames_number`` with
``split_by="number"``. ``tests/test_real_datasets.py`` checks them against
SpikingJelly's own functions wherever those import.

With the ``[events]`` extra, ATIS files are read by tonic
(``tonic.io.read_mnist_file``, which also applies the sensor's timestamp
overflow rows, ``y == 240``, as ``2^13`` us increments and drops them); the
reader here is the default install's. AEDAT 3.1 stays here: tonic 1.7's
``read_dvs_ibm`` unpacks three values from ``read_aedat_header_from_file``
into two (it raises on every file) and its packet reader ignores the event
type, size and timestamp overflow of an AEDAT 3.1 packet header. Framing stays
here too: tonic's ``ToFrame(n_event_bins=T)`` (``SliceByEventBins``) drops the
``N mod T`` last events, which SpikingJelly's ``split_by="number"`` puts in the
last frame.
"""

from __future__ import annotations

import io
import struct

import numpy as np

Events = dict[str, np.ndarray]  # keys t, x, y, p


def read_atis_bin(data: bytes) -> Events:
    """40-bit ATIS events: x (8 bits), y (8), polarity (1), timestamp in microseconds (23).

    Read by tonic when the ``[events]`` extra is installed, by :func:`_read_atis_bin` otherwise.
    """
    try:
        from tonic.io import read_mnist_file
    except ImportError:
        return _read_atis_bin(data)
    dtype = np.dtype([("x", np.int64), ("y", np.int64), ("t", np.int64), ("p", np.int64)])
    events = read_mnist_file(io.BytesIO(data), dtype=dtype, is_stream=True)
    return {key: events[key] for key in ("t", "x", "y", "p")}


def _read_atis_bin(data: bytes) -> Events:
    """The default install's ATIS reader (SpikingJelly's ``load_ATIS_bin``, vectorised)."""
    raw = np.frombuffer(data, dtype=np.uint8)
    raw = raw[: len(raw) - len(raw) % 5].astype(np.uint32)
    b2 = raw[2::5]
    t = ((b2 & 127) << 16) | (raw[3::5] << 8) | raw[4::5]
    return {"t": t, "x": raw[0::5], "y": raw[1::5], "p": (b2 & 128) >> 7}


def read_aedat31(data: bytes) -> Events:
    """Polarity events of an AEDAT 3.1 file (packets of type 1; the ASCII header skipped)."""
    pos = 0
    while data.startswith(b"#", pos):
        end = data.index(b"\n", pos) + 1
        line, pos = data[pos:end], end
        if line == b"#!END-HEADER\r\n":
            break
    parts: list[np.ndarray] = []
    while pos + 28 <= len(data):
        e_type, _src, e_size, _ts_off, overflow, capacity = struct.unpack_from("<HHIIII", data, pos)
        pos += 28
        length = capacity * e_size
        if e_type == 1:
            words = np.frombuffer(data, dtype=np.uint32, count=length // 4, offset=pos).reshape(
                -1, e_size // 4
            )
            ts = words[:, 1].astype(np.int64) | (overflow << 31)
            parts.append(np.stack([ts, words[:, 0].astype(np.int64)]))
        pos += length
    both = np.concatenate(parts, 1) if parts else np.zeros((2, 0), dtype=np.int64)
    t, aer = both
    return {"t": t, "x": (aer >> 17) & 0x7FFF, "y": (aer >> 2) & 0x7FFF, "p": (aer >> 1) & 1}


def frames_by_number(
    events: Events, frames: int, height: int, width: int, size: tuple[int, int] | None = None
) -> np.ndarray:
    """``[frames, 2, h, w]`` event counts: the events split into ``frames`` equal-count slices.

    Slice ``i`` holds events ``[i * (N // frames), (i + 1) * (N // frames))``, the last
    one the remainder too; channel 0 is polarity 0 (OFF), channel 1 polarity 1 (ON).
    With ``size=(h, w)`` smaller than the sensor's ``height x width``, event
    coordinates are binned (``y * h // height``), a sum-pooling that keeps every count.
    """
    h, w = size or (height, width)
    n = len(events["t"])
    step = n // frames
    frame = np.minimum(np.arange(n) // max(step, 1), frames - 1) if step else np.full(n, frames - 1)
    p = (events["p"] != 0).astype(np.int64)
    y = events["y"].astype(np.int64) * h // height
    x = events["x"].astype(np.int64) * w // width
    pos = ((frame * 2 + p) * h + y) * w + x
    return np.bincount(pos, minlength=frames * 2 * h * w).reshape(frames, 2, h, w)


def split_by_labels(events: Events, labels_csv: str) -> list[tuple[int, Events]]:
    """DVS Gesture: cut a recording into samples by its ``*_labels.csv`` (label 1..11 -> 0..10)."""
    rows = np.loadtxt(labels_csv.splitlines(), dtype=np.int64, delimiter=",", skiprows=1, ndmin=2)
    out = []
    for label, start, end in rows:
        mask = (events["t"] >= start) & (events["t"] < end)
        out.append((int(label) - 1, {k: v[mask] for k, v in events.items()}))
    return out
