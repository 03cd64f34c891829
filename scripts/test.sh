#!/usr/bin/env bash
# The whole test suite, from a clean clone: installs what it needs, then runs pytest.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$REPO/scripts/env.sh" test
cd "$REPO"

as_root_apt() {  # install Debian packages when we may (root with apt); otherwise the dependent tests skip
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  fi
}

# Spark (pyspark) runs on a Java runtime.
command -v java >/dev/null || as_root_apt default-jre-headless || true

# Browser tests drive Debian's Chromium through Playwright (never a browser download).
[ -x /usr/bin/chromium ] || as_root_apt chromium || true

# Notebooks: R kernels (IRkernel) and R's reticulate for the R notebook tests.
dpkg -s r-cran-irkernel r-cran-reticulate r-cran-data.table >/dev/null 2>&1 || as_root_apt r-base-core r-cran-irkernel r-cran-reticulate r-cran-data.table || true

# Genomics: PLINK 2 is the oracle the GWAS and PCA tests compare against; bcftools reads extracted VCFs back.
command -v plink2 >/dev/null && command -v bcftools >/dev/null || as_root_apt plink2 bcftools tabix || true

# PostgreSQL: tests use the server at 127.0.0.1:5432; start the machine's cluster if it is down.
if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
fi

# In CI nothing may be skipped for lack of data, PostgreSQL or a browser: those skips become failures.
if [ "${CI:-}" = "true" ]; then export RW_REQUIRE_ALL=1; fi

# Two test workers on two cores: one BLAS thread each (the genomics kernels' GEMMs oversubscribe otherwise, measured
# up to 8× slower under load).
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
exec python -m pytest -n 2 -q "$@"
