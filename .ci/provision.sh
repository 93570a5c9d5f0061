#!/usr/bin/env bash
# Install and start the services the test suite needs (GDAL command-line tools for ogrinfo checks).
set -euo pipefail
need=()
command -v ogrinfo >/dev/null 2>&1 || need+=(gdal-bin)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}"
fi
