# batchedit as a container: slim, non-root, the console script as entrypoint.
#   docker build -t batchedit .
#   docker run --rm -v "$PWD:/work" batchedit run jobs/catalog/job.yaml --simulate
# The key comes from MODELLIX_API_KEY or --api-key-file (a mounted secret).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY batchedit ./batchedit
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
COPY --from=build /install /usr/local
RUN useradd --create-home --uid 10001 --user-group batchedit
USER 10001
WORKDIR /work
ENTRYPOINT ["batchedit"]
CMD ["--help"]
