# privacy — PGXS build.  The version lives in privacy.control only.
#
#   make            build            make install    install into the system
#   make installcheck  pg_regress and isolation suites against the installed
#                   server (privacy in shared_preload_libraries, a root key)
#   make test       everything: Debian packages, build (-Werror), private
#                   install, throwaway cluster as postgres, every suite, on
#                   15 and 17 (chroot); `make test PG=17` one major
#   make demo       same set-up, then the customer-service walkthrough
#   make bench      the benchmarks (prints ratios)
#
# PG=17 picks /usr/lib/postgresql/17/bin/pg_config; PG_CONFIG=... any other.
# Objects are rebuilt when the major of pg_config changes.

EXTENSION   = privacy
EXTVERSION  = $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" privacy.control)
MODULE_big  = privacy
OBJS        = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
DATA_built  = privacy--$(EXTVERSION).sql
# upgrade scripts, one per release: privacy--OLD--NEW.sql
DATA        = $(sort $(wildcard sql/update/privacy--*--*.sql))
EXTRA_CLEAN = privacy--$(EXTVERSION).sql .pg-major test/results test/regression.diffs \
              test/regression.out output_iso

# pg_regress files test/sql/*.sql, outputs test/expected/*.out; isolation
# specs test/isolation/specs/*.spec, outputs test/isolation/expected/*.out
REGRESS        = $(basename $(notdir $(sort $(wildcard test/sql/*.sql))))
# (outputdir test/ too: pg_regress reads OUTPUTDIR/sql/NAME.sql first, and
# ./sql holds the install-script fragments)
REGRESS_OPTS   = --inputdir=test --outputdir=test
ISOLATION      = $(basename $(notdir $(sort $(wildcard test/isolation/specs/*.spec))))
ISOLATION_OPTS = --inputdir=test/isolation

ifdef PG
PG_CONFIG ?= /usr/lib/postgresql/$(PG)/bin/pg_config
else
PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) $(lastword $(sort $(wildcard /usr/lib/postgresql/*/bin/pg_config))) pg_config)
endif
SODIUM_CFLAGS := $(shell pkg-config --cflags libsodium 2>/dev/null)
SODIUM_LIBS   := $(shell pkg-config --libs libsodium 2>/dev/null || echo -lsodium)
PG_CPPFLAGS = -I$(srcdir)/src $(SODIUM_CFLAGS)
SHLIB_LINK  = $(SODIUM_LIBS)

.DEFAULT_GOAL := all

# The PGXS include is skipped on a machine without the server headers, so
# that `make test` / `make demo` can install them first.
ifneq ($(wildcard $(PG_CONFIG))$(shell command -v $(PG_CONFIG) 2>/dev/null),)
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
# the database names make test uses (the Art. 30 record names its database)
CONTRIB_TESTDB   = privacy_regress
ISOLATION_TESTDB = privacy_isolation

# the major the objects were built for: a change rebuilds them
PG_MAJOR := $(shell $(PG_CONFIG) --version | sed 's/^PostgreSQL \([0-9]*\).*/\1/')
.pg-major: FORCE
	@echo $(PG_MAJOR) | cmp -s - $@ || echo $(PG_MAJOR) > $@
$(OBJS): .pg-major
# every object depends on every header (few headers; a struct change must rebuild all)
$(OBJS): $(wildcard src/*.h)
endif

# The install script is the sorted concatenation of sql/*.sql: one file per
# feature, so features can be added without touching each other.
privacy--$(EXTVERSION).sql: $(sort $(wildcard sql/*.sql)) privacy.control
	cat $(sort $(wildcard sql/*.sql)) > $@

.PHONY: test demo bench deps FORCE
deps:
	bash test/deps.sh
test:
	PG='$(PG)' bash test/run.sh
demo:
	bash demo/run.sh
bench:
	bash bench/run.sh
stress:
	bash test/stress.sh
