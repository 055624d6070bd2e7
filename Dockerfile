# form-intake: one image for the API (`intake serve`), the Celery workers (`python -m workers
# worker`), the sweeper (`python -m workers beat`) and one-shot commands (`intake db upgrade`,
# `intake users add`).
# See docs/service.md and docker-compose.yml.
FROM python:3.11-slim-bookworm

# The runtime system packages of scripts/setup (APT_PACKAGES without the --test extras;
# tests/test_compose.py checks the two lists are the same). libtesseract-dev, libleptonica-dev,
# pkg-config and g++ are there because tesserocr is built from source against Debian's
# Tesseract 5.3.0 (the PyPI wheel bundles 5.5.4, which reads worse: README, "How a page is read").
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-tra \
      libtesseract-dev libleptonica-dev pkg-config g++ \
      fonts-arphic-uming fonts-arphic-ukai fonts-noto-cjk fonts-comic-neue \
 && rm -rf /var/lib/apt/lists/*

# One Tesseract (OpenMP) thread per process: parallelism comes from worker processes.
ENV OMP_THREAD_LIMIT=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    INTAKE_DATA_DIR=/var/lib/intake \
    INTAKE_STORAGE_DIR=/var/lib/intake/storage

WORKDIR /app
# The project, installed in place (editable, as scripts/setup does, without the test extras):
# the form templates (form_templates/, found next to the package) and
# intake/pipeline/calibration.json are read from this tree. Then check that tesserocr was built
# against the system's Tesseract, as scripts/setup does.
COPY . .
RUN pip install --no-cache-dir -c constraints.txt --no-binary tesserocr -e . \
 && python -m compileall -q intake workers \
 && built="$(python -c 'import tesserocr; print(tesserocr.tesseract_version().split()[1])')" \
 && system="$(tesseract --version 2>&1 | head -1 | cut -d' ' -f2)" \
 && echo "tesserocr built against Tesseract $built, system Tesseract $system" \
 && test "$built" = "$system"

# Non-root; the data folder (and the storage volume mounted on it) belongs to this user.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/intake --shell /usr/sbin/nologin intake \
 && mkdir -p /var/lib/intake/storage \
 && chown -R intake:intake /var/lib/intake
USER intake

EXPOSE 8000
CMD ["intake", "serve", "--host", "0.0.0.0", "--port", "8000"]
