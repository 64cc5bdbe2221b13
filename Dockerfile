# spoofguard on CPU: the CLI, training and the server (with its page and UI).
#   docker build -t spoofguard .
#   docker run --rm -v "$PWD/runs:/work" spoofguard train --data /work/data --out /work/run
#   docker run --rm -p 8000:8000 -v "$PWD/runs:/work" -e SPOOFGUARD_API_KEY=change-me spoofguard \
#       serve /work/run --host 0.0.0.0 --api-key-env SPOOFGUARD_API_KEY
# torch comes from PyTorch's CPU wheel index (no CUDA libraries: a much smaller image).
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1 NO_ALBUMENTATIONS_UPDATE=1
# libgl1 / libglib2.0-0: what opencv's and mtcnn's wheels link against on a slim image
RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/spoofguard
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu ".[serve]" -c constraints.txt

# never run as root; published weights pulled with `models pull` go to the user's cache
RUN useradd --create-home --uid 1000 spoofguard
USER spoofguard
ENV SPOOFGUARD_HOME=/home/spoofguard/.cache/spoofguard
WORKDIR /work
EXPOSE 8000
# serving: GET /healthz answers without a key (docker run --health-cmd ... for a health check)
ENTRYPOINT ["spoofguard"]
CMD ["--help"]
