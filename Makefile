# privacy — PGXS build.  The version lives in privacy.control only.
#
#   make            build            make install    install into the system
#   make test       everything: Debian packages, build (-Werror), private
#                   install, throwaway cluster as postgres, every suite
#   make demo       same set-up, then the customer-service walkthrough
#   make bench      the benchmarks (prints ratios)

EXTENSION   = privacy
EXTVERSION  = $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" privacy.control)
MODULE_big  = privacy
OBJS        = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
DATA_built  = privacy--$(EXTVERSION).sql
EXTRA_CLEAN = privacy--*.sql

# pg_regress files: one per feature in sql_tests/, outputs in expected/
REGRESS      = $(basename $(notdir $(sort $(wildcard sql_tests/*.sql))))

PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
SODIUM_CFLAGS := $(shell pkg-config --cflags libsodium 2>/dev/null)
SODIUM_LIBS   := $(shell pkg-config --libs libsodium 2>/dev/null || echo -lsodium)
PG_CPPFLAGS = -I$(srcdir)/src $(SODIUM_CFLAGS)
SHLIB_LINK  = $(SODIUM_LIBS)

.DEFAULT_GOAL := all

# The PGXS include is skipped on a machine without the server headers, so
# that `make test` / `make demo` can install them first.
ifneq ($(wildcard $(PG_CONFIG)),)
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
endif

# The install script is the sorted concatenation of sql/*.sql: one file per
# feature, so features can be added without touching each other.
privacy--$(EXTVERSION).sql: $(sort $(wildcard sql/*.sql)) privacy.control
	cat $(sort $(wildcard sql/*.sql)) > $@

.PHONY: test demo bench deps
deps:
	bash test/deps.sh
test:
	bash test/run.sh
demo:
	bash demo/run.sh
bench:
	bash bench/run.sh
stress:
	bash test/stress.sh
