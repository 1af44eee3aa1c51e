# Strata build. Plain GNU Make; one build folder per build type so objects built with
# different flags are never mixed (build/release, build/debug, build/fuzz).
#
#   make / make build   release binary  -> build/strata
#   make debug          ASan+UBSan      -> build/debug/strata
#   make run            install what is missing, build, start PostgreSQL if needed, serve
#   make test           the whole test suite under ASan+UBSan
#   make fuzz           libFuzzer targets (clang), each run FUZZ_SECONDS
#   make bench          benchmarks (never part of make test)

SHELL := /bin/bash
PKGS  := libh2o-evloop libpq jansson libsodium libcurl openssl zlib
CC    ?= cc

ifeq ($(origin CC),default)
CC := cc
endif

T ?= release

WARN  := -Wall -Wextra -Wshadow -Wformat=2 -Wpointer-arith -Wstrict-prototypes \
         -Wmissing-prototypes -Wno-unused-parameter -Wvla
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -DH2O_USE_LIBUV=0 -pthread -Isrc $(WARN) \
               $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
BASE_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lwslay -lpthread -lm

ifeq ($(T),release)
  TCFLAGS  := -O2 -g -DNDEBUG -fno-omit-frame-pointer
  TLDFLAGS :=
else ifeq ($(T),debug)
  SAN      := -fsanitize=address,undefined -fno-sanitize-recover=undefined
  TCFLAGS  := -O1 -g -fno-omit-frame-pointer $(SAN) -DSTRATA_DEBUG
  TLDFLAGS := $(SAN)
else ifeq ($(T),fuzz)
  CC       := clang
  SAN      := -fsanitize=address,undefined,fuzzer-no-link
  TCFLAGS  := -O1 -g -fno-omit-frame-pointer $(SAN) -DSTRATA_FUZZ
  TLDFLAGS := -fsanitize=address,undefined
endif

ifneq ($(WERROR),)
  TCFLAGS += -Werror
endif

B        := build/$(T)
CFLAGS_ALL := $(BASE_CFLAGS) $(TCFLAGS) $(EXTRA_CFLAGS)

CORE_SRC := $(wildcard src/core/*.c)
PORT_SRC := $(wildcard src/ports/*.c src/ports/*/*.c)
APP_SRC  := $(wildcard src/apps/*/*.c)
LIB_SRC  := $(CORE_SRC) $(PORT_SRC) $(APP_SRC)
LIB_OBJ  := $(patsubst %.c,$(B)/obj/%.o,$(LIB_SRC)) $(B)/obj/gen/embedded.o
MIGRATIONS := $(sort $(wildcard src/core/migrations/*.sql src/apps/*/migrations/*.sql))

.PHONY: ui all build debug run test unit integration fuzz fuzz-build bench clean deps flags-stamp
.DEFAULT_GOAL := build

all: build

build:
	@$(MAKE) --no-print-directory T=release build/release/strata
	@ln -sf release/strata build/strata

debug:
	@$(MAKE) --no-print-directory T=debug build/debug/strata

# --- flags stamp: any change of compiler or flags rebuilds this build type ---------------
$(B)/flags: flags-stamp
	@mkdir -p $(B)
	@echo '$(CC) $(CFLAGS_ALL) $(TLDFLAGS)' | cmp -s - $@ || echo '$(CC) $(CFLAGS_ALL) $(TLDFLAGS)' > $@

$(B)/obj/%.o: %.c $(B)/flags
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(B)/gen/embedded.c: $(MIGRATIONS) scripts/embed.sh
	@mkdir -p $(dir $@)
	scripts/embed.sh $(MIGRATIONS) > $@

$(B)/obj/gen/embedded.o: $(B)/gen/embedded.c $(B)/flags
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(B)/libstrata.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/strata: $(B)/obj/src/main.o $(B)/libstrata.a
	$(CC) $(TCFLAGS) $(TLDFLAGS) -o $@ $^ $(BASE_LIBS)

# --- unit tests (cmocka): tests/unit/test_<module>.c links src/core/<module>.c plus the
# modules named in tests/unit/deps.mk as test_<module>_DEPS --------------------------------
# A test or fuzz target that needs a library only it uses (e.g. libxml2 to check the XML a
# writer produced) names its pkg-config packages as <name>_PKGS in its deps.mk: their cflags
# go to that target's own object only, their libs to its link only.
-include tests/unit/deps.mk
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))

pkg_cflags = $(if $($(1)_PKGS),$(shell pkg-config --cflags $($(1)_PKGS)))
pkg_libs   = $(if $($(1)_PKGS),$(shell pkg-config --libs $($(1)_PKGS)))

define unit_rule
$(B)/obj/tests/unit/$(1).o: private CFLAGS_ALL += $(call pkg_cflags,$(1))
$(B)/tests/$(1): $(B)/obj/tests/unit/$(1).o $(foreach m,$($(1)_DEPS),$(B)/obj/src/$(m).o)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(TCFLAGS) $$(TLDFLAGS) -o $$@ $$^ $$(BASE_LIBS) $(call pkg_libs,$(1)) -lcmocka
endef
$(foreach t,$(patsubst tests/unit/%.c,%,$(UNIT_SRC)),$(eval $(call unit_rule,$(t))))

unit-bin: $(UNIT_BIN)

# --- fuzz targets: fuzz/fuzz_<name>.c, deps in fuzz/deps.mk as fuzz_<name>_DEPS ----------
-include fuzz/deps.mk
FUZZ_SRC := $(wildcard fuzz/fuzz_*.c)
FUZZ_NAMES := $(patsubst fuzz/%.c,%,$(FUZZ_SRC))

define fuzz_rule
$(B)/obj/fuzz/$(1).o: private CFLAGS_ALL += $(call pkg_cflags,$(1))
$(B)/fuzz/$(1): $(B)/obj/fuzz/$(1).o $(foreach m,$($(1)_DEPS),$(B)/obj/src/$(m).o) $(if $(filter fuzz,$(T)),,$(B)/obj/fuzz/replay_main.o)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(TCFLAGS) $$(TLDFLAGS) $(if $(filter fuzz,$(T)),-fsanitize=fuzzer) -o $$@ $$^ $$(BASE_LIBS) $(call pkg_libs,$(1))
endef
$(foreach t,$(FUZZ_NAMES),$(eval $(call fuzz_rule,$(t))))

fuzz-bin: $(patsubst %,$(B)/fuzz/%,$(FUZZ_NAMES))

-include $(shell find build/$(T)/obj -name '*.d' 2>/dev/null)

# --- entry points --------------------------------------------------------------------------
deps:
	@scripts/deps.sh build

ui:
	@scripts/ui.sh

run:
	@scripts/run.sh

test:
	@scripts/test.sh

fuzz:
	@scripts/deps.sh fuzz
	@$(MAKE) --no-print-directory T=fuzz fuzz-bin
	@scripts/fuzz.sh

bench:
	@scripts/bench.sh

clean:
	rm -rf build
