# syntax=docker/dockerfile:1
# The faq-engine service: Flask + gunicorn, no model inside (it is mounted at /models).
#   docker build -f Dockerfile.app -t faq-engine:1.0.0 .
ARG BASE_IMAGE=python:3.11.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv
COPY requirements.txt /src/
RUN /opt/venv/bin/pip install -r /src/requirements.txt
COPY pyproject.toml README.md /src/
COPY app /src/app
RUN /opt/venv/bin/pip install --no-deps /src \
 && /opt/venv/bin/pip uninstall -y pip setuptools \
 && find /opt/venv -depth -type d \( -name tests -o -path '*/gensim/test' \) -path '*/site-packages/*' \
      -exec rm -rf {} + \
 && find /opt/venv -name '*.pyx' -o -name '*.pxd' -o -name '*.c' -o -name '*.cpp' | xargs rm -f

FROM ${BASE_IMAGE}
ARG VERSION=1.0.0
ARG REVISION=unknown
ARG SOURCE=https://github.com/faq-engine/faq-engine
LABEL org.opencontainers.image.title="faq-engine" \
      org.opencontainers.image.description="FAQ answering service (Flask + gunicorn), model mounted at run time" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --gid 10001 app \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
# gunicorn reads ./gunicorn.conf.py from its working directory.
COPY app/faq_engine/gunicorn.conf.py /app/gunicorn.conf.py
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MODEL_DIR=/models/current \
    HOST=0.0.0.0 \
    PORT=8080
WORKDIR /app
USER 10001:10001
EXPOSE 8080
CMD ["gunicorn"]
