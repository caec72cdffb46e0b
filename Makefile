# SPDX-License-Identifier: GPL-2.0-or-later
#
# qemu-power: build entry points.  Everything is built under build/.
#
#   make            install build dependencies, fetch QEMU 10.0, apply the
#                   patch set, build build/qemu-system-x86_64
#   make check      build everything and run every test
#   make check-stress  the robustness suite: churn, faults, fuzzing (minutes)
#   make demo       the main job (see README.rst)
#   make validate   the thesis's experiments on Linux guests against a
#                   ground-truth meter (docs/validation.rst)
#   make bench      benchmarks (not tests): they print ratios
#   make checkpatch QEMU's checkpatch.pl on the series and our new files
#   make patches    regenerate patches/ from the commits in build/qemu
#   make series     build/series/: the whole patch set, new files included,
#                   as a series for qemu-devel (scripts/series.map), based
#                   on the two fixes in build/series-fixes/
#   make check-series  each patch of it applies, builds, passes checkpatch
#                   and its qtests (a full build and one per patch: long)
#   make clean      remove QEMU's build directory (keeps the sources)
#   make distclean  remove build/ entirely

export JOBS ?= $(shell nproc)

.PHONY: all deps src tree qemu check check-stress checkpatch demo validate bench \
	patches series check-series clean distclean

all: qemu

deps:
	@sh scripts/install-deps.sh

src: deps
	@sh scripts/fetch-qemu.sh

tree: src
	@sh scripts/prepare-tree.sh

qemu: tree
	@sh scripts/build-qemu.sh

check:
	@sh scripts/check.sh

check-stress:
	@sh scripts/check-stress.sh

checkpatch: tree
	@sh scripts/checkpatch.sh

demo: qemu
	@sh scripts/demo.sh

validate: qemu
	@/usr/bin/python3 scripts/validate.py

bench: qemu
	@mkdir -p build/bench
	@rm -f build/bench/*.json
	@python3 tests/bench/qmp-bench.py --json build/bench/qmp.json
	@python3 tests/bench/powerd-bench.py --json build/bench/powerd.json
	@python3 tests/bench/push-bench.py --json build/bench/push.json
	@cc -O2 -Wall -o build/bench/record-cost tests/bench/record-cost.c
	@build/bench/record-cost | tee build/bench/record-cost.txt
	@python3 tests/bench/attribution-bench.py --json build/bench/attribution.json
	@python3 tests/bench/scaling-bench.py --json build/bench/scaling.json
	@python3 tests/bench/summary.py build/bench

patches:
	@sh scripts/export-patches.sh

series: tree
	@sh scripts/make-series.sh

check-series: series
	@sh scripts/check-series.sh

clean:
	rm -rf build/qemu/build build/qemu-system-x86_64

distclean:
	rm -rf build
