# The two commands a newcomer needs: `make run` and `make test`. Both install what is missing first.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
SANITIZE_DIR ?= build-sanitize
# The suites that touch memory most, also run under AddressSanitizer and UBSan.
SANITIZED_TESTS = core_test obs_test ledger_test store_test mail_test identity_test oidc_test catalog_test fraud_test \
                  http_test live_test dubbing_test api_test ledger_concurrency_test postgres_test
DATA_DIR ?= var
LISTEN ?= 127.0.0.1:8080
# The first admin: invited at start-up; sign in with this address.
ADMIN_EMAIL ?= admin@example.com

.PHONY: all setup setup-test configure build run test sanitize bench chaos clean

all: build

setup:
	@bash scripts/setup.sh

setup-test:
	@bash scripts/setup.sh --test

$(BUILD_DIR)/build.ninja: | setup
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

configure: $(BUILD_DIR)/build.ninja

build: setup configure
	cmake --build $(BUILD_DIR)

run: build
	@echo "To sign in: open http://$(LISTEN)/signin and ask for a link for $(ADMIN_EMAIL);"
	@echo "the link appears in this log (mail.transport = log). ADMIN_EMAIL=... make run picks another address."
	$(BUILD_DIR)/src/app/beta500 --data-dir $(DATA_DIR) catalog import data/demo/catalog.json
	BETA500_BETA_ADMIN_EMAIL=$(ADMIN_EMAIL) BETA500_SERVER_PUBLIC_URL=http://$(LISTEN) \
		$(BUILD_DIR)/src/app/beta500 serve --listen $(LISTEN) --data-dir $(DATA_DIR)

test: setup-test build sanitize
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 900

$(SANITIZE_DIR)/build.ninja: | setup
	cmake -S . -B $(SANITIZE_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DBETA500_SANITIZE=ON

sanitize: setup $(SANITIZE_DIR)/build.ninja
	cmake --build $(SANITIZE_DIR) --target $(SANITIZED_TESTS)
	cd $(SANITIZE_DIR) && LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp ctest --output-on-failure --timeout 900 \
		-R '^($(subst $(eval) ,|,$(strip $(SANITIZED_TESTS))))$$'

# The long chaos run: 3 servers on one PostgreSQL for 10 minutes, 30 kills, at least 1,500 live
# sessions (make test runs a one-minute version).
chaos: setup-test build
	BETA500_BINARY=$(CURDIR)/$(BUILD_DIR)/src/app/beta500 /usr/bin/python3 tests/instances/chaos.py --seconds 600 --kills 30 --sessions 1500

bench: setup-test build
	bash bench/run.sh $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR) $(SANITIZE_DIR)
