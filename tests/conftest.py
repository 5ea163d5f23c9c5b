"""Shared fixtures: the tiny datasets every end-to-end test trains on, and one thread."""

import signal
from pathlib import Path

import numpy as np
import pytest
import torch

from sharedspace.data.locate import CACHE_ENV_VAR
from tests.tiny import write_categories, write_fortunes, write_learnable_images


@pytest.fixture(scope="session", autouse=True)
def own_cache_folder(tmp_path_factory: pytest.TempPathFactory):
    """Pictures drawn in tests are cached in a folder of the session, never the user's."""
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV_VAR, str(folder))
        yield folder


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fashion-mnist/ (1000 train, 200 test) and fortunes/fortunes (`%`-separated entries)."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    write_learnable_images(root / "fashion-mnist", 1000, 200, rng)
    write_fortunes(root / "fortunes" / "fortunes", 400, rng)
    return root


@pytest.fixture(scope="session")
def tiny_category_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fortunes/ with one file per category (the names the shipped config keeps)."""
    root = tmp_path_factory.mktemp("categories")
    write_categories(root / "fortunes", np.random.default_rng(1))
    return root


@pytest.fixture
def one_thread():
    """Spared oversubscription when other work shares the cores; results do not depend on
    the core count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def foreground_signal_handlers():
    """SIGINT and SIGTERM as a terminal's foreground process has them, whatever pytest inherited:
    started as a shell's background job it ignores SIGINT, and a run leaves an ignored signal
    ignored, so the tests that stop a run with one would not stop it."""
    defaults = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}
    previous = {s: signal.signal(s, handler) for s, handler in defaults.items()}
    yield
    for s, handler in previous.items():
        signal.signal(s, handler)
