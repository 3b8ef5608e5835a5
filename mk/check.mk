# `make check`: every test. Areas add their own prerequisites to `check`
# in their own mk/*.mk file; check-deps always runs first.
.PHONY: check-deps
check: check-deps
check-deps:
	tests/install-deps.sh
