#!/usr/bin/env bash
# Tools the report tests use to look at PDFs: pdftoppm/pdfinfo from Debian's poppler-utils.
# Idempotent; .ci/run may call it. Without it the PDF-rendering tests skip with a reason.
set -euo pipefail
if command -v pdftoppm >/dev/null 2>&1 && command -v pdfinfo >/dev/null 2>&1; then
    echo "poppler-utils already installed: $(command -v pdftoppm)"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends poppler-utils
command -v pdftoppm
