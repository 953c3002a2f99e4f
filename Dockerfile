# syntax=docker/dockerfile:1
#
# The worker's two images, one file:
#   docker build --target gpu -t ffapi:gpu .   NVDEC/NVENC + CUDA filters; falls back to the CPU
#   docker build --target cpu -t ffapi:cpu .   Debian bookworm's ffmpeg: the build CI tests
# docs/gpu.md says how to run them; docker-compose.localstack.yml runs the cpu one against
# LocalStack (docs/deploy-compose.md), deploy/k8s both on Kubernetes (docs/deploy-k8s.md).
# `docker run IMAGE doctor` prints what an image can do. Nothing here is built by CI (it has
# no Docker daemon): tests/deploy/test_dockerfile.py checks this file's text, and
# test_dockerfile_lint.py runs hadolint on it and each image's ffmpeg self-check.

# Every version in one place. FFmpeg stays on the 5.1 series, the one Debian bookworm ships
# and CI tests, so both images take the same argv the same way.
ARG PYTHON_VERSION=3.11.13
ARG CUDA_VERSION=12.6.3
ARG FFMPEG_VERSION=5.1.6
ARG FFMPEG_SHA256=f4fa066278f7a47feab316fef905f4db0d5e9b589451949740f83972b30901bd
# nv-codec-headers 11.1: the NVENC/NVDEC API of drivers >= 470.57 (Linux), and ffmpeg 5.1's.
ARG NV_CODEC_HEADERS_VERSION=n11.1.5.3
# GitHub's tag archives are not promised to be byte-stable: set this to pin the bytes too.
ARG NV_CODEC_HEADERS_SHA256=

# ---------------------------------------------------------------------------------------
# The project's wheel, built once for both targets (pure Python: any CPython >= 3.11).
FROM python:${PYTHON_VERSION}-slim-bookworm AS wheel
WORKDIR /src
COPY pyproject.toml README.md requirements.txt requirements-embedded.txt ./
COPY core ./core
COPY infra ./infra
COPY handlers ./handlers
# The build backend as the lock names it, hashes checked, not whatever is newest today.
RUN sed -n '/^setuptools==/,/[^\\]$/p' requirements-embedded.txt >/tmp/build-system.txt \
 && pip install --no-cache-dir --disable-pip-version-check --require-hashes --no-deps \
      -r /tmp/build-system.txt \
 && pip wheel --no-cache-dir --disable-pip-version-check --no-deps --no-build-isolation \
      . -w /wheels

# ---------------------------------------------------------------------------------------
# FFmpeg with NVENC, NVDEC/CUVID and the CUDA filters (scale_cuda, hwupload_cuda).
FROM nvidia/cuda:${CUDA_VERSION}-devel-ubuntu24.04 AS ffmpeg-gpu
ARG FFMPEG_VERSION
ARG FFMPEG_SHA256
ARG NV_CODEC_HEADERS_VERSION
ARG NV_CODEC_HEADERS_SHA256
ARG DEBIAN_FRONTEND=noninteractive
# pipefail: a failed download or checksum in a pipe fails the build.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# DL3008 (apt versions unpinned): the distribution's archive keeps only its current
# versions, so exact pins stop building at the next security update; the base images are
# pinned and the ffmpeg sources checksummed instead (docs/deploy-compose.md, "Reproducible").
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential ca-certificates clang curl nasm pkg-config xz-utils \
      libfontconfig-dev libfreetype-dev libsvtav1enc-dev libwebp-dev libx264-dev \
      libx265-dev libzimg-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
RUN curl -fsSL --retry 3 -o nv-codec-headers.tar.gz \
      "https://github.com/FFmpeg/nv-codec-headers/archive/refs/tags/${NV_CODEC_HEADERS_VERSION}.tar.gz" \
 && if [ -n "${NV_CODEC_HEADERS_SHA256}" ]; then \
      echo "${NV_CODEC_HEADERS_SHA256}  nv-codec-headers.tar.gz" | sha256sum -c -; fi \
 && mkdir nv-codec-headers \
 && tar -xzf nv-codec-headers.tar.gz -C nv-codec-headers --strip-components=1 \
 && make -C nv-codec-headers install PREFIX=/usr \
 && curl -fsSL --retry 3 -o ffmpeg.tar.xz \
      "https://ffmpeg.org/releases/ffmpeg-${FFMPEG_VERSION}.tar.xz" \
 && echo "${FFMPEG_SHA256}  ffmpeg.tar.xz" | sha256sum -c - \
 && mkdir ffmpeg \
 && tar -xJf ffmpeg.tar.xz -C ffmpeg --strip-components=1
WORKDIR /src/ffmpeg
# freetype and fontconfig: the steps' captions (drawtext, fontconfig's Sans: DejaVu); libwebp:
# their WebP frames and previews.
# libsvtav1 (Ubuntu 24.04's SVT-AV1 1.7): web-av1's encoder. ffmpeg 5.1 has no av1_nvenc, so
# an AV1 ladder decodes on the GPU and encodes with SVT-AV1 (the gpu-decode tier).
# --enable-cuda-llvm compiles the CUDA filters with clang to PTX against nv-codec-headers
# alone: no nvcc, no libnpp, no --enable-nonfree, so the binary stays redistributable (GPL,
# for x264/x265). NVENC/NVDEC/CUDA are reached through the driver (dlopen), never linked.
# --nvccflags restates ffmpeg's default (sm_30, -O2) and pins the PTX ISA to 4.2, what clang
# emits when it finds no CUDA toolkit. Finding this image's toolkit, clang would emit the
# newest ISA it knows, which only recent drivers load; the driver JITs 4.2 for any newer GPU.
# Static libav* (the default --enable-static --disable-shared): the worker runs ffmpeg with a
# clean environment (no LD_LIBRARY_PATH), so only system libraries are looked up at run time.
RUN ./configure \
      --prefix=/opt/ffmpeg \
      --enable-gpl \
      --enable-static --disable-shared \
      --disable-doc --disable-debug --disable-ffplay \
      --enable-libsvtav1 --enable-libx264 --enable-libx265 --enable-libzimg --enable-zlib \
      --enable-libfreetype --enable-libfontconfig --enable-libwebp \
      --enable-ffnvcodec --enable-nvenc --enable-nvdec --enable-cuvid \
      --enable-cuda-llvm \
      --nvccflags="--cuda-gpu-arch=sm_30 -O2 --cuda-feature=+ptx42" \
 || { tail -n 40 ffbuild/config.log; exit 1; }
# Fail here, not after a long make, when clang could not build the CUDA filters.
RUN grep -qs '^#define CONFIG_SCALE_CUDA_FILTER 1' config.h config_components.h \
 && make -j"$(nproc)" \
 && make install

# ---------------------------------------------------------------------------------------
# The GPU image. The runtime base brings the NVIDIA container conventions; the driver's
# libraries (libcuda, libnvidia-encode, libnvcuvid) and nvidia-smi are mounted in at run time.
FROM nvidia/cuda:${CUDA_VERSION}-runtime-ubuntu24.04 AS gpu
ARG DEBIAN_FRONTEND=noninteractive
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Ubuntu 24.04's python3 is 3.12; pip into it is refused (PEP 668), hence the venv.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates fonts-dejavu-core libfontconfig1 libfreetype6 libsvtav1enc1d1 \
      libwebp7 libwebpmux3 libx264-164 libx265-199 libzimg2 python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
COPY --from=ffmpeg-gpu /opt/ffmpeg/bin/ffmpeg /opt/ffmpeg/bin/ffprobe /usr/local/bin/
# The build proves what it can without a GPU: the binary loads, and has what jobs use.
RUN for want in "-encoders h264_nvenc" "-encoders hevc_nvenc" "-encoders libx264" \
                "-encoders libx265" "-encoders libsvtav1" "-decoders h264_cuvid" "-hwaccels cuda" \
                "-filters scale_cuda" "-filters hwupload_cuda" "-filters zscale" \
                "-filters tonemap" "-filters drawtext" "-filters overlay" \
                "-filters palettegen" "-encoders libwebp" "-encoders gif"; do \
      read -r kind name <<<"$want"; \
      listed=$(ffmpeg -hide_banner "$kind"); \
      grep -qw -- "$name" <<<"$listed" || { echo "ffmpeg lacks $name" >&2; exit 1; }; \
    done
# The dependencies are the locked ones, hashes checked; the wheel brings only the project.
RUN --mount=type=bind,from=wheel,source=/wheels,target=/wheels \
    --mount=type=bind,from=wheel,source=/src/requirements.txt,target=/tmp/requirements.txt \
    python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --require-hashes \
      -r /tmp/requirements.txt \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps /wheels/*.whl
RUN groupadd --system --gid 10001 ffapi \
 && useradd --system --no-log-init --uid 10001 --gid ffapi \
      --home-dir /var/lib/ffapi --shell /usr/sbin/nologin ffapi \
 && install -d -o ffapi -g ffapi -m 0750 /var/lib/ffapi /var/lib/ffapi/work
# video: the capability that mounts NVENC/NVDEC (libnvidia-encode, libnvcuvid) into the
# container; compute: libcuda; utility: nvidia-smi, which the capability probe reads.
# NVIDIA_DISABLE_REQUIRE: the base image asks for a driver new enough for its CUDA runtime,
# which ffmpeg never loads; the floor that matters is NVENC 11.1's (>= 470.57).
ENV NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,video,utility \
    NVIDIA_DISABLE_REQUIRE=1 \
    FFAPI_ACCEL=auto \
    FFAPI_TEMP_DIR=/var/lib/ffapi/work \
    FFAPI_HTTP_PORT=8080 \
    PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /var/lib/ffapi
USER 10001:10001
EXPOSE 8080
# Exec form with the venv's python: the slim images have no curl. A non-2xx answer raises.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/opt/venv/bin/python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['FFAPI_HTTP_PORT'], timeout=4)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["ffapi"]
CMD ["worker"]

# ---------------------------------------------------------------------------------------
# The CPU image: Debian bookworm's ffmpeg package, the exact build CI tests.
FROM python:${PYTHON_VERSION}-slim-bookworm AS cpu
ARG DEBIAN_FRONTEND=noninteractive
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# fonts-dejavu-core: fontconfig's Sans for the steps' captions (drawtext).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*
# The same self-check as the gpu image's, less the GPU: every encoder a shipped preset names
# (web-av1's libsvtav1 included) and the filters jobs use.
RUN for want in "-encoders libx264" "-encoders libx265" "-encoders libsvtav1" \
                "-filters zscale" "-filters tonemap" "-filters drawtext" "-filters overlay" \
                "-filters palettegen" "-encoders libwebp" "-encoders gif"; do \
      read -r kind name <<<"$want"; \
      listed=$(ffmpeg -hide_banner "$kind"); \
      grep -qw -- "$name" <<<"$listed" || { echo "ffmpeg lacks $name" >&2; exit 1; }; \
    done
# The dependencies are the locked ones, hashes checked; the wheel brings only the project.
RUN --mount=type=bind,from=wheel,source=/wheels,target=/wheels \
    --mount=type=bind,from=wheel,source=/src/requirements.txt,target=/tmp/requirements.txt \
    python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --require-hashes \
      -r /tmp/requirements.txt \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps /wheels/*.whl
RUN groupadd --system --gid 10001 ffapi \
 && useradd --system --no-log-init --uid 10001 --gid ffapi \
      --home-dir /var/lib/ffapi --shell /usr/sbin/nologin ffapi \
 && install -d -o ffapi -g ffapi -m 0750 /var/lib/ffapi /var/lib/ffapi/work
ENV FFAPI_ACCEL=cpu \
    FFAPI_TEMP_DIR=/var/lib/ffapi/work \
    FFAPI_HTTP_PORT=8080 \
    PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /var/lib/ffapi
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/opt/venv/bin/python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['FFAPI_HTTP_PORT'], timeout=4)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["ffapi"]
CMD ["worker"]
