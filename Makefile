# Two commands a fresh Debian machine needs: `make run` (the SUS table) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
BUDGET ?= default
ARGS ?=

.PHONY: run test lint bench data data-multimodel data-speech clean-venv

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0  # the CPU build; a bare `torch` fetches a CUDA one
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.dev: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# The default data: Debian's Fashion-MNIST and fortunes packages (installed when run as root).
data:
	@if [ -d /usr/share/datasets/fashion-mnist ] && [ -f /usr/share/games/fortunes/fortunes ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist fortunes >/dev/null) \
		|| echo "warning: could not install dataset-fashion-mnist fortunes; pass ARGS='--data-dir DIR'"; \
	else \
		echo "Missing default data: run 'sudo apt-get install dataset-fashion-mnist fortunes'"; \
		echo "or pass ARGS='--data-dir DIR' with fashion-mnist/ and fortunes/ inside."; \
	fi

# MultiModel's problems (README, MultiModel): Debian's captioned pictures (installed when run as
# root), then the gettext catalogs and the Turkish treebank, fetched into the default data folder
# (downloaded and unpacked, never installed).
MULTIMODEL_DEBS := tuxpaint-stamps-default librsvg2-bin fonts-noto-color-emoji unicode-data \
	link-grammar link-grammar-dictionaries-en openclipart-svg ktuberling-data wamerican
DATA_DIR ?= $(HOME)/.cache/sharedspace/data
data-multimodel: $(VENV)/.installed data
	@if [ -d /usr/share/tuxpaint/stamps ] && command -v rsvg-convert >/dev/null \
		&& [ -f /usr/share/unicode/emoji/emoji-test.txt ] && command -v link-parser >/dev/null \
		&& [ -d /usr/share/openclipart/svg ] && [ -d /usr/share/ktuberling/pics ] \
		&& [ -f /usr/share/dict/words ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(MULTIMODEL_DEBS) >/dev/null; \
	else \
		echo "Missing captioned pictures or link-parser: run 'sudo apt-get install $(MULTIMODEL_DEBS)'"; \
	fi
	$(VENV)/bin/sharedspace data download gettext --data-dir $(DATA_DIR)
	$(VENV)/bin/sharedspace data download turkish_treebank --data-dir $(DATA_DIR)
	@if command -v link-parser >/dev/null; then \
		$(VENV)/bin/sharedspace data download english_silver_trees --data-dir $(DATA_DIR); \
	else echo "Skipped english_silver_trees: it needs link-parser (apt-get install link-grammar)"; fi

# Speech (README, Audio): the speech engines and Debian's real recordings (installed when run as
# root), the audio extra, then the synthesised speech, made once into the default data folder
# (about 4.5 minutes on 2 CPU cores; a build that is interrupted resumes).
SPEECH_DEBS := espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts \
	ktuberling-data klettres-data tuxpaint-stamps-default pocketsphinx-testdata
data-speech: $(VENV)/.installed
	@if command -v espeak-ng >/dev/null && command -v flite >/dev/null \
		&& command -v festival >/dev/null && [ -d /usr/share/festival/voices/us/cmu_us_slt_arctic_hts ] \
		&& [ -f /usr/share/ktuberling/sounds/en.soundtheme ] && [ -f /usr/share/klettres/en/sounds.xml ] \
		&& [ -d /usr/share/tuxpaint/stamps ] && [ -d /usr/share/pocketsphinx/test/data ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SPEECH_DEBS) >/dev/null; \
	else \
		echo "Missing speech engines or recordings: run 'sudo apt-get install $(SPEECH_DEBS)'"; \
	fi
	$(PY) -m pip install -q -e '.[audio]'
	$(VENV)/bin/sharedspace data download synthetic_speech --data-dir $(DATA_DIR)
	$(VENV)/bin/sharedspace data download spoken_words_en --data-dir $(DATA_DIR)

run: $(VENV)/.installed data
	$(VENV)/bin/sharedspace reproduce sus --budget $(BUDGET) --resume $(ARGS)

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: $(VENV)/.dev data lint
	$(VENV)/bin/pytest

bench: $(VENV)/.installed
	$(PY) benchmarks/train_throughput.py

clean-venv:
	rm -rf $(VENV)
