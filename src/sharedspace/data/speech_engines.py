"""The speech synthesisers Debian ships, as the synthetic speech build runs them: espeak-ng
(formant synthesis, 8 English voices × variants), flite (CMU's small engine, 16 kHz voices) and
festival (diphone and HTS voices, through its ``text2wave`` script).

Each engine is one small class in ``ENGINES``: its voices, how it draws a voice's settings from a
seeded ``random.Random``, and the argv that reads a sentence from a text file and writes a WAV.
Commands are argv lists, never shell strings, and the sentence travels in a file the build
writes, never on the command line, so a sentence starting with ``-`` cannot become an option.
Measured on 2 cores (data notes): espeak-ng 12–16 ms a sentence, flite 7–33 ms, festival
270–370 ms; all three are deterministic (the same WAV bytes for the same argv).
"""

import random
import re
import shutil
import subprocess
from pathlib import Path
from typing import ClassVar

from sharedspace.errors import DataError, clip

SYNTHESIS_TIMEOUT_S = 120  # one sentence of at most 12 words takes well under a second


class Engine:
    """A synthesiser: ``program`` on PATH (from the Debian ``packages``) and its voices."""

    name: ClassVar[str]
    program: ClassVar[str]
    packages: ClassVar[str]  # what `apt-get install` needs
    voices: ClassVar[tuple[str, ...]]
    version_argv: ClassVar[tuple[str, ...]]

    def require(self) -> None:
        """A one-line DataError naming the apt package when ``program`` is not on PATH."""
        if shutil.which(self.program) is None:
            raise DataError(
                f"{self.program}: not found on PATH; install it: apt-get install {self.packages}"
            )

    def version(self) -> str:
        """The engine's version line, as recorded in the manifest."""
        done = subprocess.run(self.version_argv, capture_output=True, text=True, check=False)
        lines = (done.stdout + done.stderr).strip().splitlines()
        return " ".join(lines[0].split()) if lines else "unknown"

    def settings(self, rng: random.Random) -> dict[str, object]:
        """A voice's settings drawn from ``rng`` (recorded per utterance)."""
        return {}

    def argv(self, voice: str, settings: dict, text: Path, wav: Path) -> list[str]:
        raise NotImplementedError

    def synthesise(self, voice: str, settings: dict, text: Path, wav: Path) -> bytes:
        """The WAV bytes of the sentence in file ``text``; a failure is one DataError naming the
        engine, voice and the engine's last error line."""
        try:
            done = subprocess.run(
                self.argv(voice, settings, text, wav),
                capture_output=True, text=True, errors="replace",
                timeout=SYNTHESIS_TIMEOUT_S, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise DataError(f"{self.name} {voice}: no audio in {SYNTHESIS_TIMEOUT_S} s") from None
        said = (done.stderr.strip() or done.stdout.strip() or "no message").splitlines()[-1]
        if done.returncode != 0 or not wav.is_file() or not wav.stat().st_size:
            raise DataError(
                f"{self.name} {voice} wrote no audio (exit {done.returncode}): {clip(said)}"
            )
        return wav.read_bytes()


class Espeak(Engine):
    """espeak-ng: a base voice with a variant (``en-us+f3``), words a minute ``-s`` and pitch
    ``-p`` (0–99, 50 its default); 22.05 kHz output, resampled by the build."""

    name = "espeak-ng"
    program = "espeak-ng"
    packages = "espeak-ng"
    voices = ("en-gb", "en-us", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp",
              "en-gb-x-gbcwmd", "en-029", "en-us-nyc")  # fmt: skip
    variants = ("", "f1", "f2", "f3", "f4", "f5", "m1", "m2", "m3", "m4", "m5", "m6", "m7")
    version_argv = ("espeak-ng", "--version")

    def version(self) -> str:
        return re.sub(r"\s+Data at:.*", "", super().version())

    def settings(self, rng: random.Random) -> dict[str, object]:
        return {"variant": rng.choice(self.variants), "speed": rng.randint(130, 200),
                "pitch": rng.randint(25, 75)}  # fmt: skip

    def argv(self, voice: str, settings: dict, text: Path, wav: Path) -> list[str]:
        full = f"{voice}+{settings['variant']}" if settings["variant"] else voice
        speed, pitch = str(settings["speed"]), str(settings["pitch"])
        return ["espeak-ng", "-v", full, "-s", speed, "-p", pitch, "-f", str(text), "-w", str(wav)]


class Flite(Engine):
    """flite 2.2's 16 kHz voices; ``duration_stretch`` slows (> 1) or speeds (< 1) speech."""

    name = "flite"
    program = "flite"
    packages = "flite"
    voices = ("awb", "rms", "kal16", "slt")
    version_argv = ("flite", "--version")

    def version(self) -> str:
        done = subprocess.run(self.version_argv, capture_output=True, text=True, check=False)
        found = re.search(r"flite-[\w.-]+", done.stdout + done.stderr)
        return found[0] if found else "unknown"

    def settings(self, rng: random.Random) -> dict[str, object]:
        return {"duration_stretch": round(rng.uniform(0.8, 1.25), 2)}

    def argv(self, voice: str, settings: dict, text: Path, wav: Path) -> list[str]:
        stretch = f"duration_stretch={settings['duration_stretch']}"
        return ["flite", "-voice", voice, "--setf", stretch, "-f", str(text), "-o", str(wav)]


class Festival(Engine):
    """festival 2.5 through ``text2wave``, at its voices' own pace, written at 16 kHz."""

    name = "festival"
    program = "text2wave"
    packages = "festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts"
    voices = ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")
    version_argv = ("festival", "--version")

    def argv(self, voice: str, settings: dict, text: Path, wav: Path) -> list[str]:
        if not re.fullmatch(r"[a-z0-9_]+", voice):  # it goes into a Scheme expression
            raise DataError(f"festival: {voice!r} is not a festival voice name")
        return ["text2wave", "-F", "16000", "-eval", f"(voice_{voice})", str(text), "-o", str(wav)]


ENGINES: dict[str, Engine] = {engine.name: engine for engine in (Espeak(), Flite(), Festival())}
