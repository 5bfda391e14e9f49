# A single rcache node. Cluster: run several with --id/--join (see README).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY rcache ./rcache
RUN pip install --no-cache-dir .
VOLUME /data
EXPOSE 6379 16379
# Listen on all interfaces inside the container; set RCACHE_REQUIREPASS for anything exposed.
ENTRYPOINT ["rcache", "--bind", "0.0.0.0", "--dir", "/data"]
