# Billow: one non-recursive Makefile.
#
#   make                 build every binary into build/
#   make SANITIZE=address,undefined   the same under sanitizers, into build/san/
#   make deps            install missing Debian packages (apt-get, sudo when not root)
#   make run | stop      the local stack (private PostgreSQL under var/, four services)
#   make demo            the main job end to end on the local stack
#   make test            every test, also under ASan+UBSan; last line "N passed, N failed"
#   make bench           every benchmark, one table plus build/bench/results.json
#   make format          clang-format every C file
#
# Conventions that keep this file short: common/*.c is libbillow.a;
# services/X/**/*.c but main.c is libX.a; tests/unit/NAME_test.c,
# tests/integration/NAME.c and bench/NAME.c are one program each, linked with
# every library. Migrations (services/X/migrations/*.sql) are embedded into
# the service binary. Generated code lives in build/gen only.

CC       ?= cc
SANITIZE ?=
ifeq ($(SANITIZE),)
O        := build
SANFLAGS :=
else
O        := build/san
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif
GEN      := build/gen
VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo 0.1.0)

V ?= 0
ifeq ($(V),0)
Q := @
else
Q :=
endif

WARN     := -std=c11 -Wall -Wextra -Werror -Wstrict-prototypes -Wmissing-prototypes -Wvla
PQ_CFLAGS := $(shell pkg-config --cflags libpq 2>/dev/null || echo -I/usr/include/postgresql)
CPPFLAGS += -D_GNU_SOURCE $(PQ_CFLAGS) -Icommon -I$(GEN) -Iservices -DBW_VERSION='"$(VERSION)"'
CFLAGS   ?= -O2 -g
ALL_CFLAGS = $(WARN) $(CFLAGS) $(SANFLAGS) -MMD -MP
LDFLAGS  += $(SANFLAGS) -rdynamic
LDLIBS   := -lzmq -lprotobuf-c -lpq -lev -ljson-c -lcurl -lssl -lcrypto -ldl -lpthread -lm

SERVICES := rating invoicing notification feedback
PROTOS   := $(wildcard proto/*.proto)
GEN_C    := $(patsubst proto/%.proto,$(GEN)/%.pb-c.c,$(PROTOS))
GEN_H    := $(GEN_C:.c=.h)

COMMON_SRC := $(wildcard common/*.c)
COMMON_MIG := $(sort $(wildcard common/migrations/*.sql))
svc_src   = $(filter-out services/$(1)/main.c,$(wildcard services/$(1)/*.c services/$(1)/*/*.c))
svc_mig   = $(sort $(wildcard services/$(1)/migrations/*.sql))

obj = $(patsubst %.c,$(O)/obj/%.o,$(1))

LIBBILLOW := $(O)/libbillow.a
SVC_LIBS  := $(foreach s,$(SERVICES),$(O)/lib$(s).a)
SVC_BINS  := $(foreach s,$(SERVICES),$(O)/$(s))
BILLCTL   := $(O)/billctl
UNIT_SRC  := $(wildcard tests/unit/*_test.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(O)/tests/unit/%,$(UNIT_SRC))
INTEG_SRC := $(wildcard tests/integration/*.c)
INTEG_BINS:= $(patsubst tests/integration/%.c,$(O)/tests/integration/%,$(INTEG_SRC))
FUZZ_SRC  := $(wildcard tests/fuzz/*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(O)/tests/fuzz/%,$(FUZZ_SRC))
PLUGIN_SRC:= $(wildcard tests/plugins/*.c)
PLUGINS   := $(patsubst tests/plugins/%.c,$(O)/plugins/%.so,$(PLUGIN_SRC))
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BINS:= $(patsubst bench/%.c,$(O)/bench/%,$(BENCH_SRC))
CLI_SRC   := $(wildcard cli/billctl/*.c)

.PHONY: all deps run stop demo test bench format clean check-tools
.SECONDARY:
.DELETE_ON_ERROR:

all: $(SVC_BINS) $(BILLCTL) $(UNIT_BINS) $(INTEG_BINS) $(FUZZ_BINS) $(BENCH_BINS) $(PLUGINS)

# --- generated code -------------------------------------------------------
$(GEN)/%.pb-c.c $(GEN)/%.pb-c.h: proto/%.proto $(PROTOS)
	@mkdir -p $(GEN)
	$(Q)protoc-c --c_out=$(GEN) -Iproto $<

$(GEN)/common_migrations.c: $(COMMON_MIG) deploy/embed-sql.sh
	@mkdir -p $(GEN)
	$(Q)sh deploy/embed-sql.sh common $(COMMON_MIG) > $@

# Every object may include generated headers: build them first.
$(O)/obj/%.o: %.c | $(GEN_H)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

# Generated code is not ours to warn about beyond the basics.
$(O)/obj/gen/%.o: $(GEN)/%.c | $(GEN_H)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) -std=c11 -Wall -Werror $(CFLAGS) $(SANFLAGS) -MMD -MP -c $< -o $@

# --- libraries and programs -----------------------------------------------
$(LIBBILLOW): $(call obj,$(COMMON_SRC)) $(patsubst $(GEN)/%.c,$(O)/obj/gen/%.o,$(GEN_C)) $(O)/obj/gen/common_migrations.o
	@rm -f $@
	$(Q)ar rcs $@ $^

define service_rules
$(GEN)/$(1)_migrations.c: deploy/embed-sql.sh $(call svc_mig,$(1))
	@mkdir -p $(GEN)
	$(Q)sh deploy/embed-sql.sh $(1) $(call svc_mig,$(1)) > $$@

$(O)/lib$(1).a: $(call obj,$(call svc_src,$(1))) $(O)/obj/gen/$(1)_migrations.o
	@rm -f $$@
	$(Q)ar rcs $$@ $$^

$(O)/$(1): $(O)/obj/services/$(1)/main.o $(O)/lib$(1).a $(LIBBILLOW)
	@echo "  LINK    $$@"
	$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach s,$(SERVICES),$(eval $(call service_rules,$(s))))

$(BILLCTL): $(call obj,$(CLI_SRC)) $(LIBBILLOW)
	@echo "  LINK    $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

ALL_LIBS = $(SVC_LIBS) $(LIBBILLOW)

$(O)/tests/unit/%: $(O)/obj/tests/unit/%.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< -Wl,--start-group $(ALL_LIBS) -Wl,--end-group $(LDLIBS) -lcmocka

$(O)/tests/integration/%: $(O)/obj/tests/integration/%.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< -Wl,--start-group $(ALL_LIBS) -Wl,--end-group $(LDLIBS)

$(O)/tests/fuzz/%: $(O)/obj/tests/fuzz/%.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< -Wl,--start-group $(ALL_LIBS) -Wl,--end-group $(LDLIBS)

$(O)/bench/%: $(O)/obj/bench/%.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< -Wl,--start-group $(ALL_LIBS) -Wl,--end-group $(LDLIBS)

$(O)/plugins/%.so: tests/plugins/%.c | $(GEN_H)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -fPIC -shared -o $@ $<

# --- operations ------------------------------------------------------------
deps:
	@sh deploy/deps.sh

run: deps all
	@sh deploy/stack.sh start

stop:
	@sh deploy/stack.sh stop

demo: deps all
	@sh deploy/demo.sh

test: deps
	@sh tests/run.sh

bench: deps all
	@sh bench/run.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
