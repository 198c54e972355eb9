# datapipe: `make demo` and `make test` work on a fresh clone (they create .venv and install).
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export RAY_USAGE_STATS_ENABLED ?= 0
export RAY_AUTH_MODE ?= disabled
export MUJOCO_GL ?= egl

.PHONY: install demo test test-fast lint bench clean lerobot-venv browser robosuite-demos

# A separate venv with LeRobot 0.4.4 (format v3.0, Python 3.11), used only by tests: LeRobot's own
# LeRobotDataset loads datapipe's exports, and LeRobot's writers (0.4.4: v3.0, 0.3.2: v2.1) make
# the fixtures source.lerobot reads. Several GB; built once.
LEROBOT_VENV  := .venv-lerobot
LEROBOT_STAMP := $(LEROBOT_VENV)/.installed

# mediapipe 0.10.14 bundles its hand, palm and face models (later releases ship none) and works
# with numpy 2; its declared opencv-contrib-python would shadow opencv-python-headless (same cv2
# module) and jax is unused, so it goes in without dependencies (the ones used are in pyproject).
# gym-hil carries MuJoCo Menagerie's Franka Panda meshes (the default robot); datapipe reads only its
# assets, and its dependencies would pin mujoco<3.9, so it goes in without them too.
$(STAMP): pyproject.toml Makefile
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (Python 3.11); set PYTHON=..."; exit 2; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,torch,augment]'
	$(PY) -m pip install --quiet --no-deps mediapipe==0.10.14 gym-hil==0.1.14
	touch $(STAMP)

install: $(STAMP)

$(LEROBOT_STAMP):
	command -v ffprobe >/dev/null 2>&1 || (apt-get install -y -q ffmpeg >/dev/null 2>&1 || \
	  (apt-get update -q >/dev/null && apt-get install -y -q ffmpeg >/dev/null))
	test -x $(LEROBOT_VENV)/bin/python || $(PYTHON) -m venv $(LEROBOT_VENV)
	$(LEROBOT_VENV)/bin/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(LEROBOT_VENV)/bin/pip install --quiet lerobot==0.3.2
	$(LEROBOT_VENV)/bin/pip install --quiet --no-deps lerobot==0.4.4
	$(LEROBOT_VENV)/bin/pip install --quiet accelerate 'datasets>=4,<4.2' torchcodec==0.17.0
	# lerobot 0.3.2 itself, beside the venv (PYTHONPATH): it writes the v2.1 test fixtures
	$(LEROBOT_VENV)/bin/pip install --quiet --no-deps --target .lerobot-v21 lerobot==0.3.2
	touch $(LEROBOT_STAMP)

lerobot-venv: $(LEROBOT_STAMP)

# Debian's Chromium, for the test that screenshots the audit report headless
browser:
	command -v chromium >/dev/null 2>&1 || (apt-get install -y -q chromium >/dev/null 2>&1 || \
	  (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null))

# robosuite 1.4.1's human demonstrations and the assets their models name, from its wheel on
# PyPI (pip download, no install; about 190 MB once): the community source of the demo.
ROBOSUITE := data/robosuite-1.4.1
$(ROBOSUITE)/.fetched: | $(STAMP)
	$(PY) -m datapipe.generators.tools.robosuite_assets $(ROBOSUITE)

robosuite-demos: $(ROBOSUITE)/.fetched

demo: install robosuite-demos
	$(VENV)/bin/datapipe run workflows/demo.yaml

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: install lint
	@$(MAKE) --no-print-directory lerobot-venv || echo "warning: the LeRobot venv could not be built; its test will be skipped"
	@$(MAKE) --no-print-directory browser || echo "warning: Chromium could not be installed; the browser tests will be skipped"
	@$(MAKE) --no-print-directory robosuite-demos || echo "warning: robosuite's demonstrations could not be fetched; the demo test will be skipped"
	$(PY) -m pytest -ra --durations=15

test-fast: install
	$(PY) -m pytest -ra -m "not slow"

bench: install
	$(PY) -m benchmarks

clean:
	rm -rf runs out .pytest_cache
