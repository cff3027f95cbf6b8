# spi-crrn: the worker, simulator and CLI in one image (CPU torch by default; see docker-compose.yml
# profile `gpu` for an NVIDIA GPU reservation, which needs a CUDA build of torch in the image).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    SPI_CRRN_STATE_DIR=/var/lib/spi-crrn

WORKDIR /app
COPY pyproject.toml README.md ./
COPY crrn ./crrn
COPY schemas ./schemas
COPY streams ./streams
COPY migrations ./migrations
RUN pip install . && useradd --system --create-home --home-dir /var/lib/spi-crrn spi

USER spi
ENTRYPOINT ["spi-crrn"]
CMD ["--help"]
