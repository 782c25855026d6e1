#!/usr/bin/env bash
# A hash of everything the bundle is built from besides the code: packaging/, the dependency
# declarations and the assets. CI builds and checks the bundle (7-9 min here) only when this
# differs from packaging/verified-inputs.sha256, i.e. "whenever packaging/ or the dependencies
# change"; after `BRAINMRI_TEST_PACKAGING=1 pytest -m packaging` passes, record it with
#   bash packaging/inputs_hash.sh > packaging/verified-inputs.sha256
set -euo pipefail
cd "$(dirname "$0")/.."
git ls-files -s packaging pyproject.toml install.sh assets \
  | grep -v 'packaging/verified-inputs.sha256' | sha256sum | cut -d' ' -f1
