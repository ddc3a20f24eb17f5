# Rollcall: `make demo` runs a server with this machine's agent enrolled;
# `make test` runs every check CI runs. Both install what they need.

VERSION  ?= $(shell installers/version.sh 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
TOOLS    := $(CURDIR)/.tools
GO       ?= go
export PATH := $(TOOLS):$(PATH)

BUF_VERSION            := v1.75.0
PROTOC_GEN_GO_VERSION  := v1.36.12
PROTOC_GEN_GRPC_VERSION := v1.6.2
NFPM_VERSION           := v2.48.0

# The platforms the agent ships for.
AGENT_TARGETS := windows/amd64 windows/arm64 darwin/arm64 darwin/amd64 linux/amd64

.PHONY: all build demo test vet fmt-check proto proto-check tools deps cross unit bench screenshots installers clean

all: build

build: bin/rollcall bin/rollcall-agent

bin/rollcall: FORCE
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $@ ./server/cmd/rollcall

bin/rollcall-agent: FORCE
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $@ ./agent/cmd/rollcall-agent

FORCE:

## demo: build, then run a server on SQLite in .demo/ with this machine's agent enrolled.
demo: build
	./bin/rollcall demo --data-dir .demo --agent-bin ./bin/rollcall-agent

## test: everything CI checks (the installers' checks are among the unit tests).
test: deps tools fmt-check vet proto-check unit cross

## installers: the agent's MSIs, deb and rpm packages of the agent and the
## server, and the macOS archive, into dist/ (see docs/install.md).
installers: deps tools
	VERSION=$(VERSION) ./installers/build.sh dist

deps:
	@./.ci/deps

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

## vet: go vet here, and the agent for every target it is built for.
vet:
	$(GO) vet ./...
	@for t in $(AGENT_TARGETS); do \
		echo "vet agent for $$t"; \
		GOOS=$${t%/*} GOARCH=$${t#*/} CGO_ENABLED=0 $(GO) vet ./agent/... || exit 1; \
	done

unit:
	$(GO) test -race -count=1 ./...

## bench: the load benchmark (steady state, heartbeats, reports and the
## boot storm against the machine's own limits, two replicas), the agent
## (size, memory, CPU over 10 idle minutes, USB latency) and the dashboard,
## at 100,000 devices on PostgreSQL with its default durability. Figures go
## to $(BENCH_OUT); docs/performance.md explains them. About 45 minutes.
BENCH_OUT ?= $(CURDIR)/.bench
bench: deps
	@mkdir -p $(BENCH_OUT)
	@export ROLLCALL_TEST_PG_DURABLE=1 ROLLCALL_BENCH_DEVICES=$${ROLLCALL_BENCH_DEVICES:-100000} \
		ROLLCALL_BENCH_OUT=$(BENCH_OUT)/load.md; \
	run() { out=$$1; shift; echo "== $$* (output in $$out)"; "$$@" > $$out 2>&1; rc=$$?; cat $$out; return $$rc; }; \
	run $(BENCH_OUT)/load.txt $(GO) test -run '^$$' -bench 'BenchmarkLoad|BenchmarkAgent' -benchtime 1x -timeout 150m ./server/loadgen && \
	run $(BENCH_OUT)/dashboard.txt $(GO) test -run '^$$' -bench BenchmarkDashboard -benchtime 50x -timeout 60m ./server/app && \
	echo "Figures: $(BENCH_OUT)/load.md, load.txt and dashboard.txt"

## screenshots: refresh the README's pictures from the browser test.
screenshots: deps
	ROLLCALL_SCREENSHOTS=1 $(GO) test -count=1 -run 'TestDashboardInBrowser|TestLoanInBrowser|TestPINInBrowser|TestExitInBrowser' ./server/app

cross:
	@for t in $(AGENT_TARGETS); do \
		echo "build agent for $$t"; \
		GOOS=$${t%/*} GOARCH=$${t#*/} CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o /dev/null ./agent/cmd/rollcall-agent || exit 1; \
	done

tools: $(TOOLS)/buf $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc $(TOOLS)/nfpm

$(TOOLS)/buf:
	GOBIN=$(TOOLS) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
$(TOOLS)/protoc-gen-go:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
$(TOOLS)/protoc-gen-go-grpc:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GRPC_VERSION)
$(TOOLS)/nfpm:
	GOBIN=$(TOOLS) $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)

## proto: regenerate the agent API's Go code.
proto: tools
	cd proto && buf lint && buf generate

## proto-check: fail when the committed generated code is stale.
proto-check: tools
	@tmp=$$(mktemp -d) && cp -r proto/. $$tmp/ && \
	(cd $$tmp && buf lint && buf generate) && \
	if ! diff -r proto $$tmp >/dev/null; then \
		diff -r proto $$tmp | head -20; rm -rf $$tmp; \
		echo "proto/: generated code is stale: run 'make proto' and commit the result"; exit 1; \
	fi; rm -rf $$tmp; echo "proto: generated code is up to date"

clean:
	rm -rf bin dist
