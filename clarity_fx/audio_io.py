"""The one way clarity-fx opens, reads and writes audio files.

Everything that reads audio (render, analyze, keys, noise clips, impulse
responses, plots, mastering) goes through :func:`open_audio`, which vets the
path and the content in one place, and reads through :class:`AudioReader`.
Everything that writes audio goes through :func:`write_audio`: a temporary
file beside the target, checked before it is renamed.

Which decoder
-------------
libsndfile (``soundfile``) judges and reads every file it can: WAV, RF64,
AIFF, FLAC, OGG and, from libsndfile 1.1 on, MP3 through mpg123, which trims
the encoder delay and padding by the LAME/Xing header exactly as ffmpeg does.
pedalboard's decoder is used only for what libsndfile cannot read and whose
first bytes name no format libsndfile knows: it crashes the process on some
damaged WAV headers, counts MP3 padding as audio, and zero-fills truncated
files. Reading a 10-minute stereo 48 kHz 24-bit WAV takes 0.42 s through
libsndfile and 0.13 s through pedalboard (1400× and 4700× real time), a
difference no chain notices.

The vetting rules, each refused with one line naming the fix:

- missing, a folder, unreadable, empty, a symlink loop, a special file (FIFO,
  device, socket: never opened, since reading a FIFO blocks);
- content that is not audio, judged by the first bytes, not the extension;
- a sample rate outside 8 kHz .. 768 kHz, or no channels;
- truncated: the header promises more than the file holds;
- while reading: NaN, infinite or absurd (``|x| > 1e6``) samples, with the
  time they start.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import stat
import struct
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from glob import escape as glob_escape
from pathlib import Path
from typing import Any

import numpy as np

from ._paths import expand_user
from .errors import AudioFileError
from .validate import first_bad_frame

__all__ = [
    "AudioInfo",
    "AudioReader",
    "AudioWriter",
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "READ_FORMATS",
    "WRITE_FORMATS",
    "atomic_output",
    "default_lossy_quality",
    "open_audio",
    "read_all",
    "read_blocks",
    "write_audio",
]

#: Output formats pedalboard writes, by extension.
WRITE_FORMATS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")
#: Containers clarity reads through libsndfile: the ones it writes, and that pedalboard reads too.
#: libsndfile reads more (AU, CAF, W64...); they stay refused, as before, until someone tests them.
READ_FORMATS = ("WAV", "WAVEX", "RF64", "AIFF", "FLAC", "OGG", "MP3")
#: The sample rates clarity-fx accepts, Hz.
MIN_SAMPLE_RATE = 8_000
MAX_SAMPLE_RATE = 768_000
#: A sample beyond this is damage, not audio (+120 dB above full scale).
MAX_ABS_SAMPLE = 1e6
#: Frames read at the end of a file to prove it holds what its header promises.
TAIL_FRAMES = 64

#: First bytes of the containers libsndfile reads: these never reach pedalboard's decoder
#: (nor do ID3 tags and MPEG frames, where libsndfile reads MP3).
_LIBSNDFILE_MAGIC = (
    b"RIFF", b"RIFX", b"RF64", b"BW64", b"FORM", b"fLaC", b"OggS", b".snd", b"caff", b"riff",
    b"wvpk", b"NIST", b"2BIT", b"Creative Voice",
)
#: libsndfile subtype -> the sample format pedalboard would name.
_DTYPES = {
    "PCM_S8": "int8", "PCM_U8": "int8", "PCM_16": "int16", "PCM_24": "int24", "PCM_32": "int32",
    "FLOAT": "float32", "DOUBLE": "float64",
}
_SPECIAL = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


@dataclass(frozen=True)
class AudioInfo:
    """What :func:`open_audio` learned about an input file.

    Attributes
    ----------
    path : pathlib.Path
        The file.
    sample_rate : float
        Hz.
    channels : int
        Channel count.
    frames : int
        True length in frames (MP3 encoder delay and padding excluded).
    file_dtype : str
        Sample format as pedalboard names it (``"int16"``, ``"int24"``, ``"float32"``...).
    format : str
        Container (``"WAV"``, ``"FLAC"``, ``"MP3"``...).
    what : str
        What the file is for, named in every error (``"audio"``, ``"key"``, ``"noise clip"``).
    backend : str
        ``"soundfile"`` or ``"pedalboard"``: the library that judged the file (its length).
    fast_decode : bool
        Blocks are decoded by pedalboard although libsndfile judged the file (a WAV or
        AIFF both read alike, about 3x faster).
    """

    path: Path
    sample_rate: float
    channels: int
    frames: int
    file_dtype: str
    format: str = ""
    what: str = "audio"
    backend: str = "soundfile"
    fast_decode: bool = False

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.frames / self.sample_rate

    @property
    def label(self) -> str:
        """The file as error messages name it."""
        return _label(self.path, self.what)


_aliases: dict[str, str] = {}


def _native_name(path: str | os.PathLike[str]) -> str:
    """A name the decoders can open: the path itself, or a link to it when it is not UTF-8.

    libsndfile and pedalboard take UTF-8 names; a file name of bytes that do not
    decode (Python holds them as surrogates) is reached through a symbolic link
    with a plain name in a private temporary folder, removed at exit.
    """
    text = os.fspath(path)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    if text not in _aliases:
        if not _aliases:
            import atexit
            import shutil

            _aliases[""] = tempfile.mkdtemp(prefix="clarity-names-")
            atexit.register(shutil.rmtree, _aliases[""], True)
        suffix = Path(text).suffix if Path(text).suffix.isascii() else ""
        alias = os.path.join(_aliases[""], f"{len(_aliases)}{suffix}")
        os.symlink(os.path.abspath(text), alias)
        _aliases[text] = alias
    return _aliases[text]


def _label(path: Path, what: str) -> str:
    """How messages name a file: its role and its path, control characters escaped (one line)."""
    shown = "".join(c.encode("unicode_escape").decode("ascii") if c < " " or "\x7f" <= c <= "\x9f" else c
                    for c in str(path))
    return shown if what == "audio" else f"{what} {shown}"


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def _not_audio(label: str, reason: str) -> AudioFileError:
    return AudioFileError(
        f"{label} is not audio clarity can read ({reason}); "
        f"use one of {', '.join(e.lstrip('.') for e in WRITE_FORMATS)}"
    )


# --------------------------------------------------------------------------- vetting the path
def _vet_path(path: Path, label: str) -> None:
    """Refuse what is not a readable, non-empty regular file, without opening it."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if path.is_symlink():
            raise AudioFileError(
                f"{label} is a broken symlink (to {os.readlink(path)}); point it at a file"
            ) from None
        raise AudioFileError(f"{label}: no such file; check the path") from None
    except PermissionError:
        raise AudioFileError(f"{label}: permission denied on a folder above it; make it readable") from None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise AudioFileError(f"{label} is a symlink loop; point the link at a real file") from None
        if err.errno == errno.ENOTDIR:
            raise AudioFileError(f"{label}: no such file (a folder on the path is a file)") from None
        if err.errno == errno.ENAMETOOLONG:
            raise AudioFileError(f"{label}: the path is too long; use a shorter one") from None
        raise AudioFileError(f"{label}: cannot read ({err.strerror}); check the path") from None
    if stat.S_ISDIR(st.st_mode):
        raise AudioFileError(f"{label} is a folder, not an audio file; give a file (or use 'clarity batch')")
    for is_kind, kind in _SPECIAL:
        if is_kind(st.st_mode):
            raise AudioFileError(f"{label} is {kind}, not an audio file; save the audio to a file first")
    if not stat.S_ISREG(st.st_mode):
        raise AudioFileError(f"{label} is not a regular file; give an audio file")
    if not os.access(path, os.R_OK):
        raise AudioFileError(f"{label}: permission denied; make it readable (chmod +r) or copy it")
    if st.st_size == 0:
        raise AudioFileError(f"{label} is empty (0 bytes); re-export the recording")


def _has_libsndfile_magic(head: bytes) -> bool:
    is_mpeg = head.startswith(b"ID3") or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)
    if is_mpeg:
        return _libsndfile_reads_mp3()  # before libsndfile 1.1 (no mpg123), MP3s are pedalboard's
    return head.startswith(_LIBSNDFILE_MAGIC)


_MP3_SUPPORT: list[bool] = []


def _libsndfile_reads_mp3() -> bool:
    if not _MP3_SUPPORT:
        import soundfile

        _MP3_SUPPORT.append("MP3" in soundfile.available_formats())
    return _MP3_SUPPORT[0]


# --------------------------------------------------------------------------- what a header promises
def _promised_data_bytes(path: Path, head: bytes) -> tuple[int, int] | None:
    """``(declared, present)`` bytes of the sample data of a RIFF/RF64/AIFF file.

    None when the header gives no length (a streaming WAV's 0xFFFFFFFF), or
    the container is not one of these.
    """
    kind = head[:4]
    if kind not in (b"RIFF", b"RIFX", b"RF64", b"BW64", b"FORM"):
        return None
    big = kind in (b"RIFX", b"FORM")
    data_id = b"SSND" if kind == b"FORM" else b"data"
    size = path.stat().st_size
    ds64_data: int | None = None
    with open(path, "rb") as f:
        pos = 12
        for _ in range(10_000):
            if pos + 8 > size:
                return None
            f.seek(pos)
            chunk_id, chunk_size = struct.unpack(">4sI" if big else "<4sI", f.read(8))
            if chunk_id == b"ds64":
                ds64_data = struct.unpack("<Q", f.read(16)[8:16])[0]
            if chunk_id == data_id:
                if kind in (b"RF64", b"BW64") and chunk_size == 0xFFFFFFFF:
                    if ds64_data is None:
                        return None
                    chunk_size = ds64_data
                elif chunk_size in (0xFFFFFFFF, 0):  # a streaming writer that never came back
                    return None
                skip = 8 if chunk_id == b"SSND" else 0  # SSND's offset and block size come first
                return chunk_size - skip, size - pos - 8 - skip
            pos += 8 + chunk_size + (chunk_size & 1)
    return None


def _id3_end(head: bytes) -> int:
    """Where the audio starts after an ID3v2 tag (0 without one)."""
    if not (head.startswith(b"ID3") and len(head) >= 10):
        return 0
    tag = head[6:10]
    size = (tag[0] & 0x7F) << 21 | (tag[1] & 0x7F) << 14 | (tag[2] & 0x7F) << 7 | tag[3] & 0x7F
    return 10 + size + (10 if head[5] & 0x10 else 0)


def _mp3_has_length_header(path: Path, head: bytes) -> bool:
    """True when the first MPEG frame carries a Xing, Info or VBRI header: an exact length."""
    with open(path, "rb") as f:
        f.seek(_id3_end(head))
        frame = f.read(4096)
    for offset in range(len(frame) - 1):  # tolerate a little padding before the first frame
        if frame[offset] == 0xFF and frame[offset + 1] & 0xE0 == 0xE0:
            first = frame[offset : offset + 200]
            return any(tag in first for tag in (b"Xing", b"Info", b"VBRI"))
    return False


#: kbit/s by bitrate index: (MPEG-1 layer I, II, III), (MPEG-2/2.5 layer I, II and III).
_MPEG_KBPS = {
    (1, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (1, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (1, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (2, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (2, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mpeg_samples(path: Path, head: bytes) -> int:
    """Samples per channel in an MPEG audio stream, by walking its frame headers (what ffmpeg decodes)."""
    data = path.read_bytes()
    pos, samples = _id3_end(head), 0
    while pos + 4 <= len(data):
        b1, b2 = data[pos + 1], data[pos + 2]
        version, layer = (b1 >> 3) & 3, 4 - ((b1 >> 1) & 3)  # version 3: MPEG-1; layer 1..3
        bitrate, rate_index = b2 >> 4, (b2 >> 2) & 3
        if data[pos] != 0xFF or b1 & 0xE0 != 0xE0 or version == 1 or layer == 4 or rate_index == 3 \
                or bitrate in (0, 15):
            break  # not a frame: the end of the stream (an ID3v1 tag, junk)
        mpeg1 = version == 3
        kbps = _MPEG_KBPS[(1 if mpeg1 else 2, min(layer, 2) if not mpeg1 else layer)][bitrate]
        rate = _MPEG_RATES[version][rate_index]
        padding = (b2 >> 1) & 1
        if layer == 1:
            size, per_frame = (12 * kbps * 1000 // rate + padding) * 4, 384
        else:
            per_frame = 576 if layer == 3 and not mpeg1 else 1152
            size = per_frame // 8 * kbps * 1000 // rate + padding
        pos += size
        samples += per_frame
    return samples


# --------------------------------------------------------------------------- open_audio
def open_audio(path: str | os.PathLike[str], *, what: str = "audio") -> AudioInfo:
    """Check that ``path`` is a complete, readable audio file and describe it.

    Parameters
    ----------
    path : str or os.PathLike
        The input file, whatever its name or extension.
    what : str, optional
        What the file is for (``"key"``, ``"noise clip"``, ``"impulse
        response"``); error messages name it.

    Returns
    -------
    AudioInfo
        Sample rate, channels, true length in frames and sample format.

    Raises
    ------
    AudioFileError
        Missing, a folder, a special file, a symlink loop, unreadable, empty,
        not audio, an unsupported sample rate, or truncated.

    Examples
    --------
    >>> from clarity_fx.audio_io import open_audio
    >>> info = open_audio("take.wav")  # doctest: +SKIP
    >>> info.sample_rate, info.channels, info.frames  # doctest: +SKIP
    (48000.0, 2, 480000)
    """
    path = expand_user(path)
    label = _label(path, what)
    _vet_path(path, label)
    with open(path, "rb") as f:
        head = f.read(4096)
    try:
        info = _open_with_libsndfile(path, head, what)
    except _LibsndfileRefused as refused:
        if _has_libsndfile_magic(head):
            # A container libsndfile knows and refuses: pedalboard's decoder may crash on it.
            raise _not_audio(label, refused.reason) from None
        info = _open_with_pedalboard(path, what)
    else:
        info = _faster_decoder(info)
    if info.channels < 1:
        raise AudioFileError(f"{label} has no audio channels; re-export the recording")
    if not MIN_SAMPLE_RATE <= info.sample_rate <= MAX_SAMPLE_RATE:
        raise AudioFileError(
            f"{label} has a sample rate of {info.sample_rate:.10g} Hz; clarity reads "
            f"{MIN_SAMPLE_RATE // 1000}-{MAX_SAMPLE_RATE // 1000} kHz, so resample it or repair its header"
        )
    return info


#: Held while file descriptor 2 points at /dev/null (see :func:`_decoder_chatter_silenced`).
_FD2_LOCK = threading.Lock()


@contextmanager
def _decoder_chatter_silenced() -> Iterator[None]:
    """Keep libsndfile's decoders (mpg123's "Note: Trying to resync...") off the user's stderr.

    They write to file descriptor 2 directly, so the one-line error would become four. Only the
    open is covered: it is short, and the refusal, if any, is said by clarity itself.

    File descriptor 2 belongs to the whole process, so threads that open files at once (the
    report loads its tracks in threads) take turns: without the lock, a second thread would save
    the first one's ``/dev/null`` as "the" stderr and restore it, and every later message of the
    process would be lost.
    """
    import sys

    with _FD2_LOCK:
        try:
            saved = os.dup(2)
            quiet = os.open(os.devnull, os.O_WRONLY)
        except OSError:
            yield
            return
        sys.stderr.flush()
        os.dup2(quiet, 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(quiet)


class _LibsndfileRefused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _open_with_libsndfile(path: Path, head: bytes, what: str) -> AudioInfo:
    import soundfile

    label = _label(path, what)
    try:
        with _decoder_chatter_silenced():
            f = soundfile.SoundFile(_native_name(path))
    except (RuntimeError, soundfile.LibsndfileError, TypeError, ValueError) as err:
        raise _LibsndfileRefused(_libsndfile_reason(err)) from None
    with f:
        if f.format not in READ_FORMATS:
            raise AudioFileError(
                f"{label} is not audio clarity can read ({f.format} files are not supported); "
                f"use one of {', '.join(e.lstrip('.') for e in WRITE_FORMATS)}"
            )
        frames = int(f.frames)
        if f.format == "MP3" and not _mp3_has_length_header(path, head):
            # No Xing/Info header: libsndfile's length is an estimate from the first frame's bitrate,
            # and it reads no further. Count what it reads; refuse a VBR file it would cut short.
            frames = _count_frames(f, label)
            stream = _mpeg_samples(path, head)
            if frames < stream - 1152:
                raise AudioFileError(
                    f"{label} is a VBR MP3 without a length (Xing) header, which clarity would cut short at "
                    f"{frames / f.samplerate:.1f} of {stream / f.samplerate:.1f} s; re-encode it "
                    "(e.g. ffmpeg -i in.mp3 out.wav)"
                )
        else:
            _check_complete(f, path, head, frames, label)
        return AudioInfo(
            path, float(f.samplerate), int(f.channels), frames, _DTYPES.get(f.subtype, "float32"),
            str(f.format), what, "soundfile",
        )


#: Containers whose blocks pedalboard decodes about 3x faster than libsndfile (0.13 against 0.42 s
#: for 10 minutes of 24-bit stereo), once libsndfile has judged the file whole.
FAST_DECODE_FORMATS = ("WAV", "WAVEX", "AIFF")


def _faster_decoder(info: AudioInfo) -> AudioInfo:
    """Read a WAV or AIFF that libsndfile judged whole with pedalboard, when both see the same audio.

    libsndfile stays the judge: pedalboard only opens files libsndfile has
    vetted (its decoder can crash on damaged headers), and only reads them
    where it agrees on rate, channels and length (it does not, for instance,
    on a streaming WAV whose data size is 0xFFFFFFFF).
    """
    if info.format not in FAST_DECODE_FORMATS or info.frames == 0:
        return info
    from pedalboard.io import AudioFile

    try:
        with AudioFile(_native_name(info.path)) as f:
            same = (int(f.frames), int(f.num_channels), float(f.samplerate)) == (
                info.frames, info.channels, info.sample_rate)
    except (ValueError, RuntimeError, OSError):
        return info
    return dataclasses.replace(info, fast_decode=True) if same else info


def _libsndfile_reason(err: BaseException) -> str:
    reason = _first_line(err)
    if reason.startswith("Error opening "):  # "Error opening '/x/y.wav': File contains data in ..."
        reason = reason.split(": ", 1)[-1]
    return reason


def _count_frames(f: Any, label: str) -> int:
    count = 0
    try:
        while True:
            got = len(f.read(65536, dtype="float32", always_2d=True))
            if got == 0:
                return count
            count += got
    except (RuntimeError, ValueError) as err:
        raise AudioFileError(f"{label} is damaged ({_first_line(err)}); re-export or repair it") from None


def _check_complete(f: Any, path: Path, head: bytes, frames: int, label: str) -> None:
    """The one truncation check: the header's promise against what the file holds.

    A WAV/AIFF header names its data size (libsndfile quietly shortens a
    truncated one), FLAC, OGG and Xing MP3 headers name their frame count
    (reading the last frames then fails or comes up short).
    """
    promised = _promised_data_bytes(path, head)
    if promised is not None and promised[0] > promised[1]:
        declared, present = promised
        if frames > 0 and present >= frames:
            raise AudioFileError(
                f"{label} is truncated: its header promises {declared // (present // frames)} frames "
                f"but it holds {frames}; re-export or repair the file"
            )
        raise AudioFileError(
            f"{label} is truncated: its header promises {declared} bytes of audio but it holds {present}; "
            "re-export or repair the file"
        )
    if frames <= 0 or not f.seekable():
        return
    want = min(TAIL_FRAMES, frames)
    try:
        f.seek(frames - want)
        got = len(f.read(want, dtype="float32", always_2d=True))
        f.seek(0)
    except (RuntimeError, ValueError) as err:  # libsndfile: "psf_fseek() failed", "lost sync" ...
        raise AudioFileError(
            f"{label} is truncated or damaged ({_first_line(err)}); re-export or repair the file"
        ) from None
    if got < want:
        raise AudioFileError(
            f"{label} is truncated: its header promises {frames} frames but it ends before; "
            "re-export or repair the file"
        )


def _open_with_pedalboard(path: Path, what: str) -> AudioInfo:
    from pedalboard.io import AudioFile

    try:
        with AudioFile(_native_name(path)) as f:
            return AudioInfo(
                path, float(f.samplerate), int(f.num_channels), int(f.frames), str(f.file_dtype),
                path.suffix.lstrip(".").upper(), what, "pedalboard",
            )
    except (ValueError, RuntimeError, OSError) as err:
        raise _not_audio(_label(path, what), _first_line(err)) from None


# --------------------------------------------------------------------------- reading
def _vet_samples(block: np.ndarray, start: int, info: AudioInfo) -> None:
    """Refuse NaN, infinite and absurd samples, naming the time they start."""
    if block.size == 0:
        return
    high, low = block.max(), block.min()  # NaN propagates through both
    if high <= MAX_ABS_SAMPLE and low >= -MAX_ABS_SAMPLE:
        return
    bad = first_bad_frame(block)
    if bad is not None:
        raise AudioFileError(
            f"{info.label} has NaN or infinite samples from {(start + bad) / info.sample_rate:.3f} s; "
            "repair the file (e.g. re-export it as 24-bit integer)"
        )
    bad = int(np.argmax((np.abs(block) > MAX_ABS_SAMPLE).any(axis=0)))
    raise AudioFileError(
        f"{info.label} has absurd sample values (up to {float(np.abs(block).max()):.3g}) from "
        f"{(start + bad) / info.sample_rate:.3f} s; the file is damaged: repair or re-export it"
    )


class AudioReader:
    """Sequential and random reads of a file :func:`open_audio` has vetted.

    Every block is ``(channels, n)`` float32, C-contiguous, and checked for
    NaN, infinite and absurd samples. Use it as a context manager, or call
    :meth:`close`: the file handle is released at once.

    Parameters
    ----------
    info : AudioInfo
        From :func:`open_audio`.

    Examples
    --------
    >>> from clarity_fx.audio_io import AudioReader, open_audio
    >>> with AudioReader(open_audio("voice.wav")) as reader:  # doctest: +SKIP
    ...     reader.seek(48000)
    ...     second = reader.read(48000)
    """

    def __init__(self, info: AudioInfo) -> None:
        self.info = info
        self._pos = 0
        self._pedalboard = info.backend == "pedalboard" or info.fast_decode
        if self._pedalboard:
            from pedalboard.io import AudioFile

            self._file: Any = AudioFile(_native_name(info.path))
        else:
            import soundfile

            self._file = soundfile.SoundFile(_native_name(info.path))

    def __enter__(self) -> AudioReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        file = getattr(self, "_file", None)
        if file is not None:
            file.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run."""
        return self._file is None

    def close(self) -> None:
        """Release the file handle (idempotent)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def tell(self) -> int:
        """The frame the next :meth:`read` starts at."""
        return self._pos

    def seek(self, frame: int) -> None:
        """Move to ``frame`` (0 .. ``info.frames``)."""
        if self._file is None:
            raise ValueError(f"{self.info.label} is closed")
        if not 0 <= frame <= self.info.frames:
            raise ValueError(f"frame {frame} is outside 0..{self.info.frames}")
        if frame != self._pos:
            self._io(lambda: self._file.seek(frame))
            self._pos = frame

    def read(self, count: int) -> np.ndarray:
        """Up to ``count`` frames from the current position, as ``(channels, n)`` float32.

        Fewer only at the end of the file (``info.frames``).

        Raises
        ------
        AudioFileError
            Samples that are NaN, infinite or absurd, or a file that changed
            or broke since it was opened.
        """
        if self._file is None:
            raise ValueError(f"{self.info.label} is closed")
        count = max(0, min(count, self.info.frames - self._pos))
        if self._pedalboard:
            block = np.ascontiguousarray(self._io(lambda: self._file.read(count)), dtype=np.float32)
        else:
            data = self._io(lambda: self._file.read(count, dtype="float32", always_2d=True))
            block = np.ascontiguousarray(data.T)
        if block.shape[1] < count:
            raise AudioFileError(
                f"{self.info.label} is truncated: it ends at frame {self._pos + block.shape[1]} of "
                f"{self.info.frames}; re-export or repair the file"
            )
        _vet_samples(block, self._pos, self.info)
        self._pos += block.shape[1]
        return block

    def _io(self, call: Any) -> Any:
        try:
            return call()
        except (RuntimeError, ValueError, OSError) as err:
            raise AudioFileError(
                f"{self.info.label} cannot be read at frame {self._pos} ({_first_line(err)}); "
                "it changed or is damaged: repair or re-export it"
            ) from None


#: Blocks a read-ahead (``read_blocks(..., ahead=True)``) keeps ready: memory is this many more.
READ_AHEAD = 2


def read_blocks(info: AudioInfo, block_frames: int, *, ahead: bool = False) -> Iterator[np.ndarray]:
    """Yield ``(channels, <=block_frames)`` float32 blocks of a checked file.

    The file is closed when the iteration ends or the generator is closed.

    Parameters
    ----------
    info : AudioInfo
        From :func:`open_audio`.
    block_frames : int
        Frames per block (the last may be shorter).
    ahead : bool, optional
        Read and check on a worker thread, up to :data:`READ_AHEAD` blocks
        ahead of the consumer, so that decoding overlaps the consumer's work
        (pedalboard's reader releases the GIL). The blocks and the errors are
        the same, raised where the consumer reaches them. For whole-file
        passes; a pass that stops early reads a block or two more.

    Raises
    ------
    AudioFileError
        On NaN, infinite or absurd samples, naming where they start, or a
        file that ends before its promised length.
    """
    if ahead:
        yield from _read_ahead(info, block_frames)
        return
    with AudioReader(info) as reader:
        while reader.tell() < info.frames:
            yield reader.read(block_frames)


def _read_ahead(info: AudioInfo, block_frames: int) -> Iterator[np.ndarray]:
    """:func:`read_blocks` on a worker thread: blocks, then None or the error, through a queue."""
    import queue
    import threading

    ready: Any = queue.Queue(maxsize=READ_AHEAD)
    stop = threading.Event()

    def work() -> None:
        try:
            with AudioReader(info) as reader:
                while reader.tell() < info.frames and not stop.is_set():
                    ready.put(reader.read(block_frames))
        except BaseException as err:  # noqa: BLE001 - raised by the consumer
            ready.put(err)
        else:
            ready.put(None)

    thread = threading.Thread(target=work, name="clarity-render-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # take what the worker still puts, so that it can finish
            try:
                ready.get(timeout=0.05)
            except queue.Empty:
                pass
        thread.join()


def read_all(path: str | os.PathLike[str], *, what: str = "audio") -> tuple[np.ndarray, float]:
    """Vet and read a whole short file: a noise clip, an impulse response, a key as an array.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    what : str, optional
        What it is for, named in every error (``"noise clip"``, ``"impulse response"``).

    Returns
    -------
    audio : numpy.ndarray
        ``(channels, n)`` float32.
    sample_rate : float
        Hz.

    Raises
    ------
    AudioFileError
        Everything :func:`open_audio` and :meth:`AudioReader.read` refuse.

    Examples
    --------
    >>> from clarity_fx.audio_io import read_all
    >>> ir, rate = read_all("hall.wav", what="impulse response")  # doctest: +SKIP
    """
    info = open_audio(path, what=what)
    with AudioReader(info) as reader:
        return reader.read(info.frames), info.sample_rate


# --------------------------------------------------------------------------- writing
#: A temporary file is stale only when no process holds its lock and it has not changed for this long.
STALE_AFTER_S = 60.0
#: Characters of the target's stem kept in a temporary file's name (names are limited to 255 bytes).
PART_STEM_CHARS = 80


def _part_stem(target: Path) -> str:
    """The target's stem as temporary names carry it: short, and encodable whatever the file system."""
    stem = target.stem[:PART_STEM_CHARS]
    try:
        stem.encode("utf-8")
    except UnicodeEncodeError:  # a name that is not UTF-8 (bytes undecodable on this system)
        stem = stem.encode("utf-8", "surrogateescape").decode("ascii", "replace").replace("\ufffd", "_")
    return stem


def _sweep_stale_parts(target: Path) -> None:
    """Remove temporary files of earlier renders to ``target`` whose process died.

    A plugin that aborts the process (a crashing VST3) gives Python no chance
    to clean up. A live render holds an exclusive ``flock`` on its temporary
    file for as long as it writes, and the kernel releases it when the
    process dies, however it dies. A process id says nothing across PID
    namespaces (containers sharing a volume, hosts sharing a file system), so
    a file is stale only when nobody holds its lock *and* it has not changed
    for :data:`STALE_AFTER_S`.
    """
    import fcntl
    import time

    pattern = f".{glob_escape(_part_stem(target))}.*.part{glob_escape(target.suffix)}"
    for part in target.parent.glob(pattern):
        try:
            fd = os.open(part, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # a live render holds it
        try:
            if time.time() - os.fstat(fd).st_mtime > STALE_AFTER_S:
                part.unlink(missing_ok=True)
        finally:
            os.close(fd)


def _disk_full(target: Path) -> AudioFileError:
    return AudioFileError(f"{target}: the disk is full; free space or write elsewhere")


def _write_failed(target: Path, err: OSError) -> AudioFileError:
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return _disk_full(target)
    return AudioFileError(f"{target}: cannot write ({err.strerror}); choose another output path")


@contextmanager
def atomic_output(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    On any error, or Ctrl-C, the temporary file is removed and ``target`` is
    left as it was. A full disk (no space, no inodes) is one line.
    """
    folder = target.parent
    if not folder.exists():
        raise AudioFileError(f"{folder}: output folder does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise AudioFileError(
            f"{folder}: cannot write there (permission denied); choose another output folder"
        )
    import fcntl

    _sweep_stale_parts(target)
    try:
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{_part_stem(target)}.{os.getpid()}.", suffix=f".part{target.suffix}", dir=folder
        )
    except OSError as err:
        raise _write_failed(target, err) from None
    fcntl.flock(fd, fcntl.LOCK_EX)  # held until the end: a sweep by another process leaves the file alone
    tmp = Path(tmp_name)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a finished file gets the usual mode
        os.replace(tmp, target)
    except OSError as err:
        raise _write_failed(target, err) from None
    finally:
        if tmp.exists():
            tmp.unlink()
        os.close(fd)


#: Bitrates (kbit/s) a lossy output of a lossy source is chosen from.
LOSSY_BITRATES_KBPS = (64, 96, 128, 160, 192, 256, 320)


def default_lossy_quality(info: AudioInfo, suffix: str) -> str | None:
    """The quality an MP3/OGG output gets when none is asked for, chosen from the source.

    A lossy source (MP3, OGG) gets the next standard bitrate above its own
    average (so a 96 kbps voice memo becomes 128 kbps, not 320: one step up,
    for the generation loss of a second encode); a lossless source gets
    pedalboard's highest quality (None: MP3 320 kbps, Ogg Vorbis "best",
    about 500 kbps on dense material).

    Parameters
    ----------
    info : AudioInfo
        The source, as :func:`open_audio` vetted it.
    suffix : str
        The output's extension (``".mp3"``).

    Returns
    -------
    str or None
        ``"128k"`` and the like, or None for pedalboard's default.
    """
    if suffix not in (".mp3", ".ogg") or info.format.upper() not in ("MP3", "OGG") or info.frames <= 0:
        return None
    try:
        size = info.path.stat().st_size
    except OSError:
        return None
    kbps = size * 8 / (info.frames / info.sample_rate) / 1000
    above = [rate for rate in LOSSY_BITRATES_KBPS if rate >= kbps * 0.98]
    if not above:
        return None
    index = min(LOSSY_BITRATES_KBPS.index(above[0]) + 1, len(LOSSY_BITRATES_KBPS) - 1)
    return f"{LOSSY_BITRATES_KBPS[index]}k"


def _writer_options(suffix: str, source_dtype: str, bit_depth: int | None, quality: Any) -> dict[str, Any]:
    if suffix not in WRITE_FORMATS:
        raise AudioFileError(
            f"cannot write '{suffix or 'no extension'}' files; end the output name with one of "
            + ", ".join(WRITE_FORMATS)
        )
    options: dict[str, Any] = {}
    if suffix in (".wav", ".aiff", ".aif", ".flac"):
        if bit_depth is None:
            # Keep the source's resolution: 16-bit stays 16-bit, float stays float and a 32-bit
            # integer WAV stays 32-bit integer (wav); what a format cannot hold becomes 24-bit.
            bit_depth = {"int16": 16, "int8": 16, "uint8": 16}.get(source_dtype, 24)
            if source_dtype.startswith("float") and suffix == ".wav":
                bit_depth = 32
            if source_dtype == "int32" and suffix == ".wav":
                options["pcm32"] = True  # pedalboard writes 32 bits as float: libsndfile writes it
                bit_depth = 32
        if suffix == ".flac" and bit_depth not in (16, 24):
            raise AudioFileError(f"FLAC holds 16 or 24 bits, not {bit_depth}; use --bit-depth 16 or 24")
        if bit_depth not in (16, 24, 32):
            raise AudioFileError(f"bit depth {bit_depth} is not supported; use 16, 24 or 32")
        options["bit_depth"] = bit_depth
    elif bit_depth is not None:
        raise AudioFileError(f"{suffix} files have no bit depth; use --quality instead")
    if quality is not None:
        if suffix not in (".mp3", ".ogg", ".flac"):
            raise AudioFileError(f"{suffix} files have no quality setting; drop --quality")
        if suffix == ".flac" and not (str(quality).strip().isdigit() and 0 <= int(str(quality)) <= 8):
            # pedalboard also takes words ('best', 'high', 'worst') whose meaning for a lossless codec
            # is a guess: one scale, with its meaning said.
            raise AudioFileError(f"--quality {quality} for FLAC: use its compression level, 0 (fastest) to 8 "
                                 "(smallest file); FLAC is lossless at every level")
        options["quality"] = quality
    return options


class AudioWriter:
    """Writes ``(channels, n)`` blocks into a temporary file and counts the frames.

    Made by :func:`write_audio`, which checks the count against the finished
    file before the rename.
    """

    def __init__(self, tmp: Path, target: Path, sample_rate: float, channels: int, options: dict[str, Any]):
        from pedalboard.io import AudioFile

        self.target = target
        self.frames = 0
        self._integer_pcm = _integer_pcm(target.suffix.lower(), options)
        self._channels_last = bool(options.pop("pcm32", False))
        try:
            if self._channels_last:
                import soundfile

                self._file = soundfile.SoundFile(_native_name(tmp), "w", int(round(sample_rate)), channels,
                                                 subtype="PCM_32", format="WAV")
            else:
                self._file = AudioFile(_native_name(tmp), "w", sample_rate, channels, **options)
        except (ValueError, RuntimeError) as err:
            if _no_space_left(target.parent):
                raise _disk_full(target) from None
            raise AudioFileError(f"{target}: cannot write this format ({_first_line(err)})") from None

    def write(self, block: np.ndarray) -> None:
        """Append ``(channels, n)`` float audio.

        Raises
        ------
        AudioFileError
            The disk is full, or the block holds NaN or infinite samples (a file
            of them is no recording: nothing is written).
        """
        bad = first_bad_frame(block)
        if bad is not None:
            raise AudioFileError(
                f"{self.target}: the chain produced NaN or infinite samples from frame "
                f"{bad + self.frames}; nothing was written: lower the gains (or automation) that overflow"
            )
        if self._integer_pcm:
            block = _as_pcm32(block)
        try:
            if self._channels_last:
                self._file.write(_as_pcm32(block).T)  # the same rounding as pedalboard's integers
            elif block.ndim == 2 and block.shape[0] == block.shape[1] > 1:
                # pedalboard's writer cannot tell the layout of a square block
                self._file.write(block[:, :-1])
                self._file.write(block[:, -1:])
            else:
                self._file.write(block)
        except RuntimeError as err:  # "Unable to write data to audio file."
            raise self._failed(err) from None
        self.frames += block.shape[-1] if block.ndim == 2 else block.shape[0]

    def close(self) -> None:
        """Finish the file (headers, last pages); idempotent."""
        if self._file is not None:
            file, self._file = self._file, None
            try:
                file.close()
            except RuntimeError as err:
                raise self._failed(err) from None

    def _failed(self, err: BaseException) -> AudioFileError:
        if _no_space_left(self.target.parent):
            return _disk_full(self.target)
        return AudioFileError(f"{self.target}: cannot write ({_first_line(err)}); choose another output path")


#: Blocks that may wait for a :class:`BackgroundWriter`'s thread.
WRITE_QUEUE = 2


class BackgroundWriter:
    """Write blocks to an :class:`AudioWriter` on a worker thread, so encoding overlaps the chain.

    pedalboard's writer releases the GIL, so the next block is read and processed while
    this one is converted and written: on two cores the write's time leaves the wall time.
    Blocks are copied first (a plugin may reuse its output buffer) and written in order;
    at most :data:`WRITE_QUEUE` wait. An error in the worker is raised by the next
    :meth:`write` or on leaving the ``with`` block, which waits for all writes.
    """

    def __init__(self, writer: AudioWriter) -> None:
        import queue
        import threading

        self._writer = writer
        self._queue: Any = queue.Queue(maxsize=WRITE_QUEUE)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="clarity-render-writer", daemon=True)

    def _work(self) -> None:
        while True:
            block = self._queue.get()
            if block is None:
                return
            if self._error is None:
                try:
                    self._writer.write(block)
                except BaseException as err:  # noqa: BLE001 - handed to the main thread
                    self._error = err

    def __enter__(self) -> BackgroundWriter:
        self._thread.start()
        return self

    def write(self, block: np.ndarray) -> None:
        """Queue a copy of ``block``; raise the worker's error, if it had one."""
        self._raise()
        self._queue.put(block.copy())

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def __exit__(self, kind: object, *exc: object) -> None:
        self._queue.put(None)
        self._thread.join()
        if kind is None:
            self._raise()


def _integer_pcm(suffix: str, options: dict[str, Any]) -> bool:
    """Whether the output is 16- or 24-bit integer PCM (wav, aiff, flac)."""
    return suffix in (".wav", ".aiff", ".aif", ".flac") and options.get("bit_depth") in (16, 24)


def _as_pcm32(block: np.ndarray) -> np.ndarray:
    """``block`` as int32 full-scale PCM, exactly as pedalboard's writer turns floats into ints.

    That writer (JUCE) clips to [-1, 1], scales by 2^31 - 1, rounds to nearest (ties to
    even) and keeps the top 16 or 24 bits; given int32 it keeps the same top bits, so the
    file is byte-for-byte the same, and it encodes int32 about twice as fast as float32.
    A block with NaN is left as it is (pedalboard's own conversion decides).
    """
    scaled = np.multiply(block, 2147483647.0, dtype=np.float64)
    np.rint(scaled, out=scaled)
    np.clip(scaled, -2147483648.0, 2147483647.0, out=scaled)
    if np.isnan(scaled).any():
        return block
    return scaled.astype(np.int32)


def _no_space_left(folder: Path) -> bool:
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 64 * 1024 or (st.f_files > 0 and st.f_favail == 0)


def _written_frames(tmp: Path) -> int | None:
    """Frames the finished temporary file really holds (-1: unreadable); None if libsndfile cannot tell."""
    try:
        info = open_audio(tmp)
    except AudioFileError:
        return -1
    if info.backend != "soundfile":
        return None
    return info.frames


@contextmanager
def write_audio(
    target: str | os.PathLike[str],
    sample_rate: float,
    channels: int,
    *,
    options: dict[str, Any] | None = None,
) -> Iterator[AudioWriter]:
    """Write a file atomically: a temporary file, checked, then renamed onto ``target``.

    Before the rename the temporary file is opened again and must hold every
    frame written: a full disk is never reported as success (an OGG written
    onto a full disk otherwise ends early without an error).

    Parameters
    ----------
    target : str or os.PathLike
        The output; its extension picks the format.
    sample_rate : float
        Hz.
    channels : int
        Channel count.
    options : dict, optional
        ``bit_depth``/``quality`` as ``_writer_options`` makes them.

    Yields
    ------
    AudioWriter
        Call ``write(block)`` with ``(channels, n)`` blocks.

    Raises
    ------
    AudioFileError
        The disk is full, the folder is not writable, or the format cannot be written.
        Nothing is left under ``target`` or beside it.
    """
    target = expand_user(target)
    with atomic_output(target) as tmp:
        writer = AudioWriter(tmp, target, sample_rate, channels, dict(options or {}))
        try:
            yield writer
        except BaseException:
            try:
                writer.close()
            except AudioFileError:
                pass
            raise
        writer.close()
        # (A FLAC of no frames is one libsndfile will not open: nothing to check there.)
        held = _written_frames(tmp) if writer.frames else None
        if held is not None and held != writer.frames:
            if _no_space_left(target.parent):
                raise _disk_full(target)
            raise AudioFileError(
                f"{target}: the written file holds {max(held, 0)} of {writer.frames} frames; "
                "check the disk and write again"
            )
