# The natsraft node image: the static node binary and nothing else.
#
# Nothing is pulled: scripts/build-image.sh builds the binary on the host
# (CGO_ENABLED=0) into a build context with this file, so the image starts
# FROM scratch. No CA certificates are included: the embedded nats-server
# and HTTP listener need none; mount a CA file (--nats-ca) to reach an
# external NATS deployment over TLS.
FROM scratch
COPY node /node
# The data directory, owned by the unprivileged user the node runs as; a
# named volume mounted here starts with this owner.
COPY --chown=65532:65532 data /data
USER 65532:65532
ENV NATSRAFT_DATA_DIR=/data \
    NATSRAFT_NATS_LISTEN=0.0.0.0:4222 \
    NATSRAFT_ROUTE_LISTEN=0.0.0.0:6222 \
    NATSRAFT_HTTP_ADDR=0.0.0.0:8080
# 4222 NATS clients, 6222 NATS routes between nodes, 8080 HTTP API and
# health, 2379 etcd v3 gRPC API (when NATSRAFT_ETCD_ADDR is set).
EXPOSE 4222 6222 8080 2379
VOLUME /data
HEALTHCHECK --interval=5s --timeout=3s --start-period=60s --retries=3 \
    CMD ["/node", "health", "--url", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["/node"]
CMD ["run"]
